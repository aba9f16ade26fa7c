#!/bin/bash
# A big batch (issue 13, "Benchmark"): 1,000 VIPs x 100 backends applied to
# a running sluiced (a) by a config reload and (b) by a restart with that
# state. Prints the time until it is live and, for the reload, the API's
# latency meanwhile: a client (bench_api stall) issues `status` back to
# back from the reload until it is live. Figures only, asserts nothing;
# every wait is bounded; everything it starts is removed on exit (by pid,
# and by the unique names of its netns, pin directory and temp directory).
#
# Usage: bench_batch.sh BUILD_DIR [-v VIPS] [-b BACKENDS] [-r RING] [-p PORTS]
#   defaults 1000 VIPs, 100 backends each, ring M = 16381 (--ring; rings
#   of 65537 for 1,024 VIPs would take 512 MiB), one VIP per address
#   (-p 4: four VIPs, ports 80-83, per address, which a VIP table of
#   2,048 slots also holds)
# The change is `sluicectl apply FILE` (its return marks "live"); set
# RELOAD_CMD to time another command ({sock} and {conf} are replaced), or
# RELOAD_CMD=sighup for a SIGHUP reload (its log line marks "live").
# PERF_OUT=FILE records the reload with perf (perf record -g) into FILE.
# Needs root (netns, XDP, bpffs).
set -euo pipefail

BUILD=${1:?usage: bench_batch.sh BUILD_DIR [-v VIPS] [-b BACKENDS] [-r RING] [-p PORTS]}
shift
NV=1000
NB=100
RING=16381
PORTS=1
while getopts "v:b:r:p:" o; do
    case $o in
        v) NV=$OPTARG ;;
        b) NB=$OPTARG ;;
        r) RING=$OPTARG ;;
        p) PORTS=$OPTARG ;;
        *) echo "usage: bench_batch.sh BUILD_DIR [-v VIPS] [-b BACKENDS] [-r RING] [-p PORTS]" >&2; exit 2 ;;
    esac
done
if [ "$(id -u)" != 0 ]; then
    echo "bench_batch.sh: needs root (netns, XDP, bpffs): not run" >&2
    exit 1
fi
BUILD=$(cd "$BUILD" && pwd)
SLUICED=$BUILD/controlplane/sluiced
CTL=$BUILD/controlplane/sluicectl
API=$BUILD/tests/bench/bench_api
for b in "$SLUICED" "$CTL" "$API"; do
    if [ ! -x "$b" ]; then
        echo "bench_batch.sh: $b was not built: not run" >&2
        exit 1
    fi
done

NS=sluice-batch-$$
TMP=$(mktemp -d /tmp/sluice-batch.XXXXXX)
PIN=/sys/fs/bpf/sluice-batch-$$
SOCK=$TMP/sluiced.sock
CONF=$TMP/sluice.conf
STATE=$TMP/state.conf
LOG=$TMP/sluiced.log
PID=
STALL_PID=

stop_sluiced() {
    [ -n "$PID" ] || return 0
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
}

cleanup() {
    local rc=$?
    [ -n "$STALL_PID" ] && kill "$STALL_PID" 2>/dev/null && wait "$STALL_PID" 2>/dev/null
    stop_sluiced
    if [ -f "$TMP/start.pid" ]; then
        local p
        p=$(cat "$TMP/start.pid")
        if [ -n "$p" ] && grep -qF "$SOCK" "/proc/$p/cmdline" 2>/dev/null; then
            kill -KILL "$p" 2>/dev/null || true
        fi
    fi
    if [ "$rc" != 0 ] && [ -f "$LOG" ]; then
        echo "--- sluiced log (last 30 lines)"
        tail -30 "$LOG"
    fi
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$PIN" "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nsx() { nsenter --net="/run/netns/$NS" "$@"; }
ctl() { "$CTL" --socket "$SOCK" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
json_get() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# The namespace of bench_control.sh: backends one router away, their next
# hops resolved without ARP.
ip netns add "$NS"
nsx ip link set lo up
nsx ip link add veth0 type veth peer name veth1
nsx ip link set veth0 up
nsx ip link set veth1 up
nsx ip addr add 10.1.0.1/24 dev veth0
nsx ip neigh replace 10.1.0.254 lladdr 02:00:00:00:00:fe nud permanent dev veth0
nsx ip route add 10.0.0.0/8 via 10.1.0.254 dev veth0

NODE="node set --interface veth0 --encap-source 10.1.0.1"
echo "$NODE" > "$CONF"
MAXV=$(( (NV + 23) / 24 * 24 ))
LIMITS=(--max-vips "$MAXV" --max-backends $((NV * NB + 64)) --max-ring "$RING")
ARGS=(--foreground --config "$CONF" --socket "$SOCK" --pin-root "$PIN" --state "$STATE" "${LIMITS[@]}")

nsx "$SLUICED" "${ARGS[@]}" 2>>"$LOG" >/dev/null &
PID=$!
# nsenter may fork: signals go to sluiced itself, its child.
for _ in $(seq 100); do
    CHILD=$(pgrep -P "$PID" || true)
    [ -n "$CHILD" ] && break
    grep -qF "$SOCK" "/proc/$PID/cmdline" 2>/dev/null && [ "$(readlink "/proc/$PID/exe")" = "$SLUICED" ] && break
    sleep 0.01
done
[ -n "${CHILD:-}" ] && PID=$CHILD
for _ in $(seq 600); do
    ctl status >/dev/null 2>&1 && break
    kill -0 "$PID" 2>/dev/null || { echo "bench_batch.sh: sluiced exited" >&2; exit 1; }
    sleep 0.05
done

# VIP x: address a = x/PORTS, 10.100.(a/250).(a%250+1), port 80+x%PORTS;
# backend b of VIP x: 10.(x/250+10).(x%250).(b+1) (up to 1,000 VIPs x 250
# backends, all distinct, none on veth0's subnet).
python3 - "$NV" "$NB" "$RING" "$NODE" "$PORTS" > "$CONF.new" <<'EOF'
import sys
nv, nb, ring, node, ports = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4],
                             int(sys.argv[5]))
out = [f"# bench_batch.sh: {nv} VIPs x {nb} backends", node]
for x in range(nv):
    a = x // ports
    vip = f"10.100.{a // 250}.{a % 250 + 1}:{80 + x % ports}/tcp"
    out.append(f"vip add {vip} --ring {ring}")
    out += [f"backend add {vip} 10.{x // 250 + 10}.{x % 250}.{b + 1}" for b in range(nb)]
print("\n".join(out))
EOF
mv "$CONF.new" "$CONF"
echo "sluiced on veth0 in netns $NS; $(nproc) CPUs; limits ${LIMITS[*]}"
echo "config: $NV VIPs ($PORTS per address) x $NB backends, M=$RING ($(wc -l < "$CONF") lines)"

# --- (a) reload ----------------------------------------------------------------
rm -f "$TMP/live"
PERF_PID=
if [ -n "${PERF_OUT:-}" ]; then
    perf record -q -F 499 -g -p "$PID" -o "$PERF_OUT" 2>/dev/null &
    PERF_PID=$!
    sleep 1
fi
marks=$(grep -c "reload of " "$LOG" || true)
APPLY_CMD="$CTL --socket {sock} apply {conf}"
RELOAD_CMD=${RELOAD_CMD-$APPLY_CMD}
[ "$RELOAD_CMD" = sighup ] && RELOAD_CMD=
T0=$(now_ms)
if [ -n "${RELOAD_CMD:-}" ]; then
    cmd=${RELOAD_CMD//\{sock\}/$SOCK}
    cmd=${cmd//\{conf\}/$CONF}
    how="${cmd/#$BUILD\/controlplane\//}"
    ( eval "$cmd" > "$TMP/reload.out" 2>&1; touch "$TMP/live" ) &
else
    how="SIGHUP"
    kill -HUP "$PID"
fi
timeout 900 "$API" stall -s "$SOCK" -t 900 -U "$TMP/live" > "$TMP/stall" &
STALL_PID=$!
for _ in $(seq 90000); do
    if [ -z "${RELOAD_CMD:-}" ] && [ "$(grep -c "reload of " "$LOG" || true)" -gt "$marks" ]; then
        touch "$TMP/live"
    fi
    [ -f "$TMP/live" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.01
done
T1=$(now_ms)
touch "$TMP/live"
[ -n "$PERF_PID" ] && kill -INT "$PERF_PID" && wait "$PERF_PID" || true
wait "$STALL_PID" || true
STALL_PID=
VIPS=$(ctl --json status | json_get vips)
echo
echo "== (a) reload by $how: $NV VIPs x $NB backends"
{ grep "apply of \|reload of \|reload: " "$LOG" || true; } | tail -1 | sed "s/^/log: /"
echo "reload live_ms=$((T1 - T0)) vips=$VIPS"
sed 's/^/api during reload: /' "$TMP/stall"

# --- (b) restart with that state -------------------------------------------------
stop_sluiced
echo
echo "== (b) restart with that state ($(wc -l < "$STATE") lines), pins adopted"
RESTART=$(nsx timeout 900 "$API" start -s "$SOCK" -n "$NV" -l "$LOG" -P "$TMP/start.pid" -- \
    "$SLUICED" "${ARGS[@]}")
echo "restart $RESTART"
echo
echo "== summary ($NV VIPs x $NB backends, M=$RING)"
printf '%-44s %s\n' "reload ($how) -> live" "$((T1 - T0)) ms"
printf '%-44s %s\n' "  status calls answered meanwhile" "$(sed -n 's/.*calls=\([0-9]*\).*/\1/p' "$TMP/stall" | head -1)"
printf '%-44s %s\n' "  status p99 / max" "$(sed -n 's/.*p99_us=\([0-9.]*\).*max_ms=\([0-9.]*\).*/\1 us \/ \2 ms/p' "$TMP/stall" | head -1)"
printf '%-44s %s\n' "restart -> API answers with $NV VIPs" "$(echo "$RESTART" | sed -n 's/.*api_ms=\([0-9.]*\).*/\1/p') ms"
printf '%-44s %s\n' "  status p99 / max meanwhile" "$(echo "$RESTART" | sed -n 's/.*status_p99_ms=\([0-9.]*\) status_max_ms=\([0-9.]*\).*/\1 ms \/ \2 ms/p')"
