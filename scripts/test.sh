#!/bin/bash
# README's test command, and the whole of CI: installs what the project
# needs, builds twice (plain, and with ASan/UBSan), runs every suite.
#
# Usage: scripts/test.sh [meson test args...]   e.g. scripts/test.sh --suite unit
set -euo pipefail

cd "$(dirname "$0")/.."

scripts/install-deps.sh

if [ "$(id -u)" != 0 ]; then
    echo "test.sh: not root: the bpf suite will report its tests as skipped" >&2
fi

configure() {
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@"
    fi
}

# Sums meson's test log into the one closing line CI reads.
summarize() {
    python3 - "$@" <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            r = json.loads(line)["result"]
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:
                failed += 1
print(f"test.sh: {passed} passed, {failed} failed, {skipped} skipped")
PY
}

status=0

configure build
ninja -C build
meson test -C build --print-errorlogs "$@" || status=1

# Userspace again under AddressSanitizer and UndefinedBehaviorSanitizer:
# memory errors are found while the code is young. Alignment checks are off:
# an IP header behind a 14-byte Ethernet header is 2-byte aligned by nature,
# and the shared parser reads it in place as the kernel does on x86-64/arm64.
configure build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fno-sanitize=alignment
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs "$@" || status=1

summarize build/meson-logs/testlog.json build-asan/meson-logs/testlog.json
exit $status
