#!/bin/bash
# Runs Sluice's benchmarks and prints their figures (docs/measuring.md).
# Figures only: nothing here passes or fails on a timing.
#
# Usage: scripts/bench.sh [xdp|dpdk|maglev|control|e2e|all] [bench args...]
#   xdp     tests/bench/bench_xdp: sluice_xdp through BPF_PROG_TEST_RUN,
#           ratios to an XDP_DROP floor (needs root)
#   dpdk    tests/bench/bench_dpdk: the DPDK worker's dp_burst() over in-memory
#           mbufs on one lcore, ratios to a dpdk-testpmd io floor over net_null
#           (needs root and dpdk-testpmd; reserves 2 MB hugepages and gives
#           them back; ~1 min)
#   maglev  tests/bench/bench_maglev: Maglev ring population
#   control tests/bench/bench_control.sh: a real sluiced in a netns, 100 VIPs
#           x 100 backends: start-up, SIGHUP, drain -> ring live, API calls/s;
#           then tests/bench/bench_batch.sh: 1,000 VIPs x 100 backends by
#           reload and by restart, time to live and API p99 meanwhile
#           (needs root; ~2 min)
#   e2e     tests/bench/bench_e2e.sh: the lab with nginx backends: wrk
#           requests/s through the VIP beside straight to one backend, and
#           health detection times; then the same requests/s with
#           sluice-dpdk in place of sluiced (needs root and wrk; ~2 min)
#   all     every one (default); takes no bench args
# Bench args go to the one benchmark named, e.g.
#   scripts/bench.sh xdp -r 200000 -n 7     (bench_xdp -h lists them)
#   scripts/bench.sh dpdk -n 9 -p 20000000  (bench_dpdk -h lists them)
#   scripts/bench.sh control -n 7 -d 30     (runs; drain runs)
#
# Builds, in build-bench/ (buildtype=release, tests on), only what the
# benchmarks named need (configuring it first if needed); the other build
# dirs are left alone.
set -eu

usage() {
    sed -n '2,31s/^# \{0,1\}//p' "$0"
}

what=all
if [ $# -gt 0 ]; then
    case "$1" in
        -h|--help) usage; exit 0 ;;
        xdp|dpdk|maglev|control|e2e|all) what=$1; shift ;;
        *) echo "bench.sh: unknown benchmark '$1'" >&2; usage >&2; exit 2 ;;
    esac
fi
if [ "$what" = all ] && [ $# -gt 0 ]; then
    echo "bench.sh: bench args need one benchmark named (xdp, dpdk, maglev or control)" >&2
    exit 2
fi

if [ "$what" = xdp ] && [ "$(id -u)" != 0 ]; then
    echo "bench.sh: bench_xdp needs root (BPF_PROG_TEST_RUN and BPF maps); run it as root" >&2
    exit 1
fi
if [ "$what" = dpdk ] && [ "$(id -u)" != 0 ]; then
    echo "bench.sh: bench_dpdk needs root (hugepages, hugetlbfs mount); run it as root" >&2
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
    dpdk) targets=(tests/bench/bench_dpdk) ;;
    maglev) targets=(tests/bench/bench_maglev) ;;
    control) targets=(tests/bench/bench_api controlplane/sluiced controlplane/sluicectl) ;;
    e2e) targets=(controlplane/sluiced controlplane/sluicectl healthd/sluice-healthd
                  xdp/sluice-decap) ;;
    all) targets=(tests/bench/bench_xdp tests/bench/bench_dpdk tests/bench/bench_maglev
                  tests/bench/bench_api controlplane/sluiced controlplane/sluicectl
                  healthd/sluice-healthd xdp/sluice-decap) ;;
esac
# The e2e benchmark runs the lab with sluice-dpdk too when it is built.
if { [ "$what" = e2e ] || [ "$what" = all ]; } &&
        ninja -C "$dir" -t targets all 2>/dev/null | grep '^dataplane/sluice-dpdk:' >/dev/null; then
    targets+=(dataplane/sluice-dpdk)
fi
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

# 2 MB hugepages for bench_dpdk (docs/measuring.md: DPDK is 1.6-2.9x slower
# without): HUGE_PAGES more than now, on a hugetlbfs mount of our own if
# none is mounted; all given back on exit. Without them, --no-huge.
HUGE_PAGES=512		# 1 GiB: bench_dpdk and testpmd each use ~100 MB
huge_nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
huge_prev=
huge_mnt=
huge_own_mnt=
dpdk_pid=

dpdk_cleanup() {
    if [ -n "$dpdk_pid" ]; then
        kill "$dpdk_pid" 2>/dev/null || true
        wait "$dpdk_pid" 2>/dev/null || true
        # Left only if it was killed: its and its testpmd's prefixes.
        rm -rf "/var/run/dpdk/slb-bench-$dpdk_pid" "/var/run/dpdk/slb-testpmd-$dpdk_pid"
        [ -z "$huge_mnt" ] || rm -f "$huge_mnt/slb-bench-${dpdk_pid}map_"* \
            "$huge_mnt/slb-testpmd-${dpdk_pid}map_"*
        dpdk_pid=
    fi
    if [ -n "$huge_own_mnt" ]; then
        umount "$huge_own_mnt" 2>/dev/null && rmdir "$huge_own_mnt"
        huge_own_mnt=
    fi
    if [ -n "$huge_prev" ]; then
        echo "$huge_prev" >"$huge_nr" 2>/dev/null || true
        echo "bench.sh: 2 MB hugepages given back: $(cat "$huge_nr") reserved now" \
            "(was $huge_prev before the benchmark)"
        huge_prev=
    fi
}

# Sets huge_args to the EAL memory arguments bench_dpdk passes on to testpmd.
huge_reserve() {
    local want got
    huge_args=(--no-huge -m 1024)
    if [ ! -w "$huge_nr" ]; then
        echo "bench.sh: cannot reserve 2 MB hugepages ($huge_nr not writable):" \
            "running with --no-huge, 1.6-2.9x slower (docs/measuring.md)"
        return
    fi
    huge_prev=$(cat "$huge_nr")
    want=$((huge_prev + HUGE_PAGES))
    echo "$want" >"$huge_nr" 2>/dev/null || true
    got=$(cat "$huge_nr")
    if [ "$got" -lt "$((huge_prev + HUGE_PAGES / 2))" ]; then
        echo "bench.sh: COULD NOT RESERVE 2 MB hugepages (asked for $want, got $got):" \
            "running with --no-huge, 1.6-2.9x slower (docs/measuring.md)"
        return
    fi
    huge_mnt=$(awk '$3 == "hugetlbfs" && ($4 ~ /pagesize=2M/ || $4 !~ /pagesize=/) \
                    { print $2; exit }' /proc/mounts)
    if [ -z "$huge_mnt" ]; then
        huge_own_mnt=$(mktemp -d /tmp/sluice-bench-huge.XXXXXX)
        if ! mount -t hugetlbfs -o pagesize=2M nodev "$huge_own_mnt"; then
            rmdir "$huge_own_mnt"
            huge_own_mnt=
            echo "bench.sh: COULD NOT MOUNT hugetlbfs: running with --no-huge," \
                "1.6-2.9x slower (docs/measuring.md)"
            return
        fi
        huge_mnt=$huge_own_mnt
    fi
    echo "bench.sh: 2 MB hugepages: $got reserved (was $huge_prev), hugetlbfs at $huge_mnt"
    huge_args=(--huge-dir="$huge_mnt")
}

run_dpdk() {
    local bin=$dir/tests/bench/bench_dpdk rc=0
    if [ "$(id -u)" != 0 ]; then
        echo "bench.sh: bench_dpdk needs root (hugepages): not run" >&2
        status=1
        return
    fi
    if [ ! -x "$bin" ]; then
        echo "bench.sh: $bin was not built (is libdpdk there?): not run" >&2
        status=1
        return
    fi
    if ! command -v dpdk-testpmd >/dev/null; then
        echo "bench.sh: dpdk-testpmd not found (Debian package dpdk): the floor will be missing" >&2
    fi
    echo "== bench_dpdk"
    trap 'dpdk_cleanup; exit 130' INT TERM
    trap dpdk_cleanup EXIT
    huge_reserve
    "$bin" "$@" -- "${huge_args[@]}" &
    dpdk_pid=$!
    wait "$dpdk_pid" || rc=$?
    dpdk_pid=
    dpdk_cleanup
    trap - INT TERM EXIT
    [ "$rc" = 0 ] || status=1
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
    echo
    # 1,000 VIPs x 100 backends by reload (SIGHUP; RELOAD_CMD switches to
    # a command, see the script) and by restart: time to live, API p99.
    echo "== bench_batch"
    bash tests/bench/bench_batch.sh "$dir" || status=1
}

case "$what" in
    xdp) run_xdp "$@" ;;
    dpdk) run_dpdk "$@" ;;
    maglev) run_maglev "$@" ;;
    control) run_control "$@" ;;
    e2e) run_e2e ;;
    all) run_xdp; echo; run_dpdk; echo; run_maglev; echo; run_control; echo; run_e2e ;;
esac
exit $status
