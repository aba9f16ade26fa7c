#!/bin/bash
# Runs Sluice's benchmarks and prints their figures (shared/BENCH.md).
# Figures only: nothing here passes or fails on a timing.
#
# Usage: scripts/bench.sh [xdp|maglev|control|e2e|all] [bench args...]
#   xdp     tests/bench/bench_xdp: sluice_xdp through BPF_PROG_TEST_RUN,
#           ratios to an XDP_DROP floor (needs root)
#   maglev  tests/bench/bench_maglev: Maglev ring population
#   control tests/bench/bench_control.sh: a real sluiced in a netns, 100 VIPs
#           x 100 backends: start-up, SIGHUP, drain -> ring live, API calls/s
#           (needs root; ~1 min)
#   e2e     tests/bench/bench_e2e.sh: the lab with nginx backends: wrk
#           requests/s through the VIP beside straight to one backend, and
#           health detection times (needs root and wrk; ~1 min)
#   all     every one (default); takes no bench args
# Bench args go to the one benchmark named, e.g.
#   scripts/bench.sh xdp -r 200000 -n 7     (bench_xdp -h lists them)
#   scripts/bench.sh control -n 7 -d 30     (runs; drain runs)
#
# Builds, in build-bench/ (buildtype=release, tests on), only what the
# benchmarks named need (configuring it first if needed); the other build
# dirs are left alone.
set -eu

usage() {
    sed -n '2,23s/^# \{0,1\}//p' "$0"
}

what=all
if [ $# -gt 0 ]; then
    case "$1" in
        -h|--help) usage; exit 0 ;;
        xdp|maglev|control|e2e|all) what=$1; shift ;;
        *) echo "bench.sh: unknown benchmark '$1'" >&2; usage >&2; exit 2 ;;
    esac
fi
if [ "$what" = all ] && [ $# -gt 0 ]; then
    echo "bench.sh: bench args need one benchmark named (xdp, maglev or control)" >&2
    exit 2
fi

if [ "$what" = xdp ] && [ "$(id -u)" != 0 ]; then
    echo "bench.sh: bench_xdp needs root (BPF_PROG_TEST_RUN and BPF maps); run it as root" >&2
    exit 1
fi
if { [ "$what" = control ] || [ "$what" = e2e ]; } && [ "$(id -u)" != 0 ]; then
    echo "bench.sh: the control benchmark needs root (netns, XDP, bpffs); run it as root" >&2
    exit 1
fi

cd "$(dirname "$0")/.."
dir=build-bench

if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" --buildtype=release -Dtests=true
elif ! meson introspect --buildoptions "$dir" 2>/dev/null |
        python3 -c 'import json,sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
sys.exit(0 if o.get("buildtype") == "release" and o.get("tests") else 1)'; then
    meson setup --reconfigure "$dir" --buildtype=release -Dtests=true
fi
# Only the targets of the benchmarks asked for: a unit test someone is
# in the middle of changing does not stop a benchmark from running.
targets=()
case "$what" in
    xdp) targets=(tests/bench/bench_xdp) ;;
    maglev) targets=(tests/bench/bench_maglev) ;;
    control) targets=(tests/bench/bench_api controlplane/sluiced controlplane/sluicectl) ;;
    e2e) targets=(controlplane/sluiced controlplane/sluicectl healthd/sluice-healthd
                  xdp/sluice-decap) ;;
    all) targets=(tests/bench/bench_xdp tests/bench/bench_maglev
                  tests/bench/bench_api controlplane/sluiced controlplane/sluicectl
                  healthd/sluice-healthd xdp/sluice-decap) ;;
esac
if ! ninja -C "$dir" "${targets[@]}"; then
    # One benchmark that does not build does not stop the others: each
    # run_* below says "not built" for its own.
    [ "$what" = all ] || exit 1
    for t in "${targets[@]}"; do ninja -C "$dir" "$t" >/dev/null 2>&1 || true; done
fi

status=0

run_xdp() {
    local bin=$dir/tests/bench/bench_xdp
    if [ "$(id -u)" != 0 ]; then
        echo "bench.sh: bench_xdp needs root (BPF_PROG_TEST_RUN and BPF maps): not run" >&2
        status=1
        return
    fi
    if [ ! -x "$bin" ]; then
        echo "bench.sh: $bin was not built (is xdp/loader.c there?): not run" >&2
        status=1
        return
    fi
    echo "== bench_xdp"
    "$bin" "$@" || status=1
}

run_maglev() {
    local bin=$dir/tests/bench/bench_maglev
    if [ ! -x "$bin" ]; then
        echo "bench.sh: $bin was not built (is tests/bench/bench_maglev.c there?): not run" >&2
        status=1
        return
    fi
    echo "== bench_maglev"
    "$bin" "$@" || status=1
}

run_e2e() {
    if [ "$(id -u)" != 0 ]; then
        echo "bench.sh: the e2e benchmark needs root (netns, XDP): not run" >&2
        status=1
        return
    fi
    echo "== bench_e2e"
    bash tests/bench/bench_e2e.sh "$PWD/$dir" || status=1
}

run_control() {
    local script=tests/bench/bench_control.sh
    if [ "$(id -u)" != 0 ]; then
        echo "bench.sh: the control benchmark needs root (netns, XDP, bpffs): not run" >&2
        status=1
        return
    fi
    if [ ! -x "$dir/tests/bench/bench_api" ] || [ ! -x "$dir/controlplane/sluiced" ] ||
       [ ! -x "$dir/controlplane/sluicectl" ]; then
        echo "bench.sh: bench_api, sluiced or sluicectl was not built: not run" >&2
        status=1
        return
    fi
    echo "== bench_control"
    bash "$script" "$dir" "$@" || status=1
}

case "$what" in
    xdp) run_xdp "$@" ;;
    maglev) run_maglev "$@" ;;
    control) run_control "$@" ;;
    e2e) run_e2e ;;
    all) run_xdp; echo; run_maglev; echo; run_control; echo; run_e2e ;;
esac
exit $status
