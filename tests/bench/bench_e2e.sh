#!/bin/bash
# scripts/bench.sh e2e: requests/s through the VIP with wrk from the lab's
# client, beside requests/s straight to one backend, interleaved in the
# same run (veth throughput here is low: compare the ratio, not the
# figures); the health daemon's detection and recovery times; then, when
# sluice-dpdk is built, the same requests/s with sluice-dpdk in place of
# sluiced (net_af_xdp on the balancer's eth0, the balancer's address on a
# net_tap exception port, as tests/e2e/e2e.sh dpdk), again beside straight
# to one backend, so both fast paths' ratios come from one run. Prints
# figures, asserts nothing. Brings a lab of its own up with demo.sh
# (namespaces slb<pid>-*, beside the demo's sl-* if that is up) and down
# at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-bench}
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-3}
export SLUICE_LAB_PREFIX=slb$$-
unset SLUICE_LAB_STATE SLUICE_LAB_PINS
eval "$("$ROOT/scripts/lab.sh" env)"
STATE=$LAB_STATE
SOCK=$STATE/sluiced.sock
NS_LB=${LAB_PREFIX}lb
NS_CLIENT=${LAB_PREFIX}client
VIP=10.100.0.1:80/tcp

[ "$(id -u)" = 0 ] || { echo "bench e2e: needs root (network namespaces, XDP)"; exit 1; }
command -v wrk >/dev/null || { echo "bench e2e: wrk not found (apt-get install wrk)"; exit 1; }
trap '"$ROOT/scripts/lab.sh" down >/dev/null 2>&1 || true' EXIT

ctl() { nsenter --net="/run/netns/$NS_LB" "$BUILD/controlplane/sluicectl" --socket "$SOCK" "$@"; }
BUILD_DIR=$BUILD SLUICE_BUILD=$BUILD "$ROOT/scripts/demo.sh" >/dev/null 2>&1 || {
    echo "bench e2e: demo.sh failed; run it alone to see why"; exit 1; }

rps() {   # rps URL: requests/s of one wrk run from the client
    nsenter --net="/run/netns/$NS_CLIENT" wrk -t1 -c16 -d"${SECS}s" "$1" 2>/dev/null |
        awk '/Requests\/sec/ {print $2}'
}

med() { sort -g | awk '{a[NR]=$1} END {printf "%s / %s / %s", a[1], a[int((NR+1)/2)], a[NR]}'; }

TMPD=$(mktemp -d /tmp/bench-e2e.XXXXXX)
trap '"$ROOT/scripts/lab.sh" down >/dev/null 2>&1 || true; rm -rf "$TMPD"' EXIT

# vip_rounds NAME: ROUNDS wrk runs through the VIP interleaved with
# ROUNDS straight to be1; prints both and their per-round ratio.
vip_rounds() {
    local name=$1
    : > "$TMPD/vip-$name"
    : > "$TMPD/direct-$name"
    for _ in $(seq "$ROUNDS"); do
        rps http://10.100.0.1/ >> "$TMPD/vip-$name"
        rps http://10.200.0.11/ >> "$TMPD/direct-$name"
    done
    printf '%-40s %s\n' "through the VIP ($name, 3 backends)" "$(med < "$TMPD/vip-$name") req/s (min / median / max)"
    printf '%-40s %s\n' "straight to be1" "$(med < "$TMPD/direct-$name") req/s"
    printf '%-40s %s\n' "ratio VIP / direct, per round" "$(paste "$TMPD/vip-$name" "$TMPD/direct-$name" |
        awk '{printf "%.2f\n", $1 / $2}' | med) (min / median / max)"
}

echo "== requests/s, wrk -t1 -c16 -d${SECS}s from $NS_CLIENT, $ROUNDS rounds interleaved"
vip_rounds XDP

# Detection: interval 200 ms, timeout 100 ms, fall 2, rise 2.
echo
echo "== health detection, check every 200 ms (timeout 100 ms, fall 2, rise 2)"
ctl vip set "$VIP" --check-interval 200ms --check-timeout 100ms --check-fall 2 --check-rise 2
sleep 1.5
state_of() { ctl backend list "$VIP" | awk -v a=10.200.0.12 '$2 == a {print $4}'; }
now_ms() { date +%s%3N; }
wait_state() {   # wait_state STATE: ms until be2 shows it (bounded: 10 s)
    local t0=$1 want=$2
    for _ in $(seq 1000); do
        [ "$(state_of)" = "$want" ] && { echo $(( $(now_ms) - t0 )); return; }
        sleep 0.01
    done
    echo timeout
}
for i in $(seq 3); do
    t0=$(now_ms)
    kill -TERM "$(cat "$STATE/pids/nginx-be2")"
    down=$(wait_state "$t0" down)
    t0=$(now_ms)
    "$ROOT/scripts/lab.sh" run-nginx be2 >/dev/null
    up=$(wait_state "$t0" up)
    echo "round $i: nginx stopped -> down in $down ms (bound fall*interval+timeout = 500 ms); restarted -> up in $up ms (rise*interval = 400 ms)"
done

# --- the same through sluice-dpdk ---------------------------------------------
DPDK=$BUILD/dataplane/sluice-dpdk
if [ ! -x "$DPDK" ]; then
    echo
    echo "== sluice-dpdk: not built in $BUILD (no libdpdk); XDP figures only"
    exit 0
fi
echo
echo "== requests/s with sluice-dpdk instead of sluiced (1 worker lcore polling"
echo "   net_af_xdp on eth0 in copy mode; it spins on one of this machine's 2 cores,"
echo "   which wrk, nginx and the kernel's veth work share)"
ctl detach >/dev/null
kill -TERM "$(cat "$STATE/pids/sluiced")"
for _ in $(seq 50); do [ -d "/proc/$(cat "$STATE/pids/sluiced")" ] || break; sleep 0.1; done
"$ROOT/scripts/lab.sh" lb-exec "$DPDK" --foreground --config "$STATE/sluice.conf" \
    --state "$STATE/sluiced.state" --socket "$SOCK" -- -l 0-1 --no-huge -m 512 --no-pci \
    --vdev=net_af_xdp0,iface=eth0 --vdev=net_tap0,iface=sl-exc \
    </dev/null >>"$STATE/sluice-dpdk.log" 2>&1 &
echo $! > "$STATE/pids/sluice-dpdk"
for _ in $(seq 200); do ctl status >/dev/null 2>&1 && break; sleep 0.05; done
if ! ctl status >/dev/null 2>&1; then
    echo "bench e2e: sluice-dpdk did not start:"; tail -n 20 "$STATE/sluice-dpdk.log"; exit 1
fi
ip -n "$NS_LB" addr del 10.200.0.2/24 dev eth0
ip -n "$NS_LB" addr add 10.200.0.2/24 dev sl-exc
sleep 2   # healthd's checks now go through the exception port: all up again
vip_rounds DPDK
printf '%-40s %s\n' "DPDK / XDP through the VIP, medians" "$(paste <(med < "$TMPD/vip-DPDK" | awk -F' / ' '{print $2}') \
    <(med < "$TMPD/vip-XDP" | awk -F' / ' '{print $2}') | awk '{printf "%.2f", $1 / $2}')"
