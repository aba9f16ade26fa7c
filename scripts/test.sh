#!/bin/bash
# README's test command, and the whole of CI: installs what the project
# needs, builds twice (plain, and with ASan/UBSan), runs every suite.
#
# Usage: scripts/test.sh [meson test args...]   e.g. scripts/test.sh --suite unit
set -euo pipefail

cd "$(dirname "$0")/.."

scripts/install-deps.sh

if [ "$(id -u)" != 0 ]; then
    echo "test.sh: not root: the tests that need root will report themselves skipped" >&2
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

# Sums meson's test logs into the one closing line CI reads, after a line
# per skipped test with the reason it printed. As root a skip fails the
# run (exit 1): CI runs as root on a machine with everything the suite
# needs, so a test that skips there stands for a broken setup and must
# not end green. As another user the tests that need root skip, and that
# is allowed.
summarize() {
    python3 - "$(id -u)" "$@" <<'PY'
import json, sys
root = sys.argv[1] == "0"
passed = failed = 0
skips = []
for path in sys.argv[2:]:
    build = path.split("/")[0]
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            if t["result"] in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif t["result"] == "SKIP":
                skips.append((build, t))
            else:
                failed += 1
for build, t in skips:
    lines = [l.strip() for l in (t.get("stdout") or "").splitlines() if l.strip()]
    why = [l for l in lines if "skip" in l.lower()] or lines[-1:] or ["no reason printed"]
    print(f"test.sh: skipped: {build}: {t['name']}: {' / '.join(why)}")
print(f"test.sh: {passed} passed, {failed} failed, {len(skips)} skipped")
if root and skips:
    print("test.sh: failing: tests skipped while running as root")
    sys.exit(1)
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

summarize build/meson-logs/testlog.json build-asan/meson-logs/testlog.json || status=1
exit $status
