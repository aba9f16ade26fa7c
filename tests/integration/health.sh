#!/bin/bash
# Health across restarts and ownership (root): sluiced on a veth in a
# private network namespace, its backends in a second one, sluice-healthd
# checking them over TCP. Checks that a new backend of a checked VIP stays
# out until its first check; that a report sent by hand is undone by
# healthd's next heartbeat; an operator's override beside healthd's view,
# its expiry and its clear; that a restart of sluiced with a backend down
# never puts it back in the ring (the pinned backends map sampled all
# along, the ring digest, backend list), from the fast path alone and from
# the health file alone; and that a killed healthd shows in status, the
# log and /metrics while health stays as it was. Every loop is bounded;
# everything it starts is removed by pid/name on exit.
set -euo pipefail

BUILD=${1:?usage: health.sh BUILD_DIR}
if [ "$(id -u)" != 0 ]; then
    echo "health.sh: skipped: needs root (netns, BPF)"
    exit 77
fi

NS=sluice-ih-$$
NSB=sluice-ihb-$$
TMP=$(mktemp -d /tmp/sluice-ih.XXXXXX)
PIN=/sys/fs/bpf/sluice-ih-$$
SOCK=$TMP/sluiced.sock
VIP=10.100.0.1:80/tcp
B1=10.0.0.11
B2=10.0.0.12
PID=
HD_PID=
LISTEN_PID=
SAMPLER_PID=
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../check.sh
. "$HERE/../check.sh"

cleanup() {
    if [ "$failures" != 0 ]; then
        for f in sluiced.log healthd.log; do
            [ -f "$TMP/$f" ] && { echo "--- $f"; cat "$TMP/$f"; }
        done
    fi
    for p in $SAMPLER_PID $LISTEN_PID $HD_PID $PID; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
    done
    ip netns del "$NS" 2>/dev/null || true
    ip netns del "$NSB" 2>/dev/null || true
    rm -rf "$PIN" "$TMP"
}
trap cleanup EXIT

# nsenter, not `ip netns exec`, which remounts /sys and hides the pins.
nsx() { nsenter --net="/run/netns/$NS" "$@"; }
ctl() { nsx "$BUILD/controlplane/sluicectl" --socket "$SOCK" "$@"; }

start_sluiced() {
    nsenter --net="/run/netns/$NS" "$BUILD/controlplane/sluiced" --foreground \
        --config "$TMP/sluice.conf" --state "$TMP/state.conf" --socket "$SOCK" \
        --pin-root "$PIN" --max-vips 8 --max-backends 32 --flow-buckets 1024 \
        --metrics 127.0.0.1:9109 --healthd-timeout 2s "$@" 2>>"$TMP/sluiced.log" &
    PID=$!
    for _ in $(seq 100); do
        ready ctl && return 0
        sleep 0.05
    done
    echo "sluiced did not come up"
    return 1
}

stop_sluiced() {
    kill -TERM "$PID"
    wait "$PID" || true
    PID=
}

start_healthd() {
    nsenter --net="/run/netns/$NS" "$BUILD/healthd/sluice-healthd" --foreground \
        --socket "$SOCK" --refresh 200 </dev/null >>"$TMP/healthd.log" 2>&1 &
    HD_PID=$!
}

stop_healthd() {
    kill -TERM "$HD_PID"
    wait "$HD_PID" || true
    HD_PID=
}

# One field of one backend from `backend list --json`.
bfield() {
    ctl --json backend list "$VIP" | python3 -c '
import json, sys
for b in json.load(sys.stdin)["backends"]:
    if b["backend"] == sys.argv[1]:
        print(b.get(sys.argv[2], "-"))' "$1" "$2"
}
is_state() { [ "$(bfield "$1" state)" = "$2" ]; }
field_is() { [ "$(bfield "$1" "$2")" = "$3" ]; }
usable() { ctl --json ring digest "$VIP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["usable_backends"])'; }
status_field() { ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
metric() { nsx curl -s --max-time 2 http://127.0.0.1:9109/metrics | awk -v n="$1" '$1 == n { print $2 }'; }
# For `eventually`, which runs its command again: the value is read each time.
status_is() { [ "$(status_field "$1")" = "$2" ]; }
metric_is() { [ "$(metric "$1")" = "$2" ]; }

# "ADDR STATE" for every IPv4 entry of the pinned backends map
# (1 up, 2 down, 3 draining).
map_states() {
    bpftool -j map dump pinned "$(find "$PIN" -name backends | head -1)" 2>/dev/null | python3 -c '
import json, socket, struct, sys
for e in json.load(sys.stdin):
    v = e.get("formatted", {}).get("value") or {}
    if v.get("state") and v.get("family") == 4:
        print(socket.inet_ntoa(struct.pack("<I", v["addr"]["w"][0])), v["state"])'
}

# --- two namespaces: the balancer, and the backends behind veth1 -----------
ip netns add "$NS"
ip netns add "$NSB"
nsx ip link set lo up
nsx ip link add veth0 type veth peer name veth1
nsx ip link set veth1 netns "$NSB"
nsx ip link set veth0 up
nsx ip addr add 10.0.0.1/24 dev veth0
ip -n "$NSB" link set lo up
ip -n "$NSB" link set veth1 up
ip -n "$NSB" addr add $B1/24 dev veth1
ip -n "$NSB" addr add $B2/24 dev veth1
# Only B1 answers the check: B2 is down.
ip netns exec "$NSB" python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.0.11", 8080)); s.listen(64)
end = time.time() + 600
while time.time() < end:
    s.settimeout(1)
    try:
        c, _ = s.accept(); c.close()
    except socket.timeout:
        pass' &
LISTEN_PID=$!

cat > "$TMP/sluice.conf" <<CONF
node set --interface veth0 --encap-source 10.0.0.1
vip add $VIP --check tcp --check-port 8080 --check-interval 200ms --check-timeout 100ms --check-rise 1 --check-fall 1
backend add $VIP $B1
backend add $VIP $B2
CONF

# --- a new backend waits for its first check ------------------------------------
check "sluiced starts" start_sluiced
check "before any check, $B1 is down (initial health of a checked VIP)" is_state $B1 down
check "  ... its health unknown, from its initial state" \
    test "$(bfield $B1 health)/$(bfield $B1 health_source)" = "unknown/initial"
check "  ... and no backend is in the ring" test "$(usable)" = 0
check "status: waiting for healthd's first heartbeat" test "$(status_field healthd)" = waiting

start_healthd
check "healthd checks $B1 up" eventually 10 is_state $B1 up
check "healthd checks $B2 down" eventually 10 field_is $B2 health down
check "status: healthd up" eventually 5 status_is healthd up
check "/metrics: sluice_healthd_up 1" eventually 3 metric_is sluice_healthd_up 1
check "/metrics: a check age for $B1" eventually 3 \
    nsx sh -c "curl -s http://127.0.0.1:9109/metrics | grep -q 'sluice_backend_check_age_seconds{vip=\"$VIP\",backend=\"$B1\"}'"

# --- a report by hand does not stick ---------------------------------------------
# (Whether the report is still in force when read back depends on where
# healthd's 200 ms heartbeat falls: what is checked is that sluiced took
# it and healthd undid it.)
check "a stray report by hand is taken" ctl health report "$VIP" $B2 up --reason "by hand"
check "healthd's next heartbeat takes it down again" eventually 3 is_state $B2 down
check "  ... and healthd said why" grep -q "view differs" "$TMP/healthd.log"

# --- the operator's override ------------------------------------------------------
ctl health set "$VIP" $B1 down --for 2s --reason maintenance
check "override down takes $B1 out" is_state $B1 down
check "  ... healthd's view still up, beside it" \
    test "$(bfield $B1 health)/$(bfield $B1 override)/$(bfield $B1 health_source)" = "up/down/override"
check "  ... backend list shows the override and its expiry" \
    sh -c "'$BUILD/controlplane/sluicectl' --socket '$SOCK' backend list '$VIP' | grep $B1 | grep -q 'down,0m0[12]s.*(override: maintenance)'"
sleep 0.6    # three heartbeats
check "  ... healthd's heartbeats do not undo it" is_state $B1 down
check "it expires by itself" eventually 5 is_state $B1 up
check "  ... and is gone from backend list" test "$(bfield $B1 override)" = -
ctl health set "$VIP" $B2 up
check "override up puts a failing $B2 in" is_state $B2 up
ctl health clear "$VIP" $B2
check "health clear: $B2 follows its check again" is_state $B2 down

# --- a restart with a backend down: never back in the ring -----------------------
D_BEFORE=$(ctl ring digest "$VIP" | awk '{print $3}')
stop_healthd
# Sample the fast path's own view of B2 all through the restart.
( end=$(( $(date +%s) + 20 )); while [ "$(date +%s)" -lt "$end" ]; do map_states; sleep 0.02; done ) \
    > "$TMP/samples" 2>/dev/null &
SAMPLER_PID=$!
stop_sluiced
check "the health file has $B2 down" grep -q "^$VIP $B2 .*health=down" "$TMP/health"
start_sluiced
check "after a restart $B2 is down at once (backend list)" is_state $B2 down
check "  ... $B1 still up, not its initial down" is_state $B1 up
check "  ... the same ring (digest)" test "$(ctl ring digest "$VIP" | awk '{print $3}')" = "$D_BEFORE"
check "  ... one usable backend" test "$(usable)" = 1

# From the pinned fast path alone.
stop_sluiced
rm -f "$TMP/health"
start_sluiced
check "without the health file, the pinned entry keeps $B2 down" is_state $B2 down
check "  ... and $B1 up" is_state $B1 up
check "  ... the same ring (digest)" test "$(ctl ring digest "$VIP" | awk '{print $3}')" = "$D_BEFORE"
sleep 1.5    # the health file is written again within a tick

# From the health file alone (what DPDK has): no fast path to read back.
stop_sluiced
start_sluiced --no-fastpath
check "without a fast path, the health file keeps $B2 down" is_state $B2 down
check "  ... and $B1 up" is_state $B1 up
stop_sluiced
start_sluiced
kill "$SAMPLER_PID" 2>/dev/null && wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=
check "the map was sampled through the restarts ($(grep -c "^$B2 " "$TMP/samples") samples)" \
    test "$(grep -c "^$B2 " "$TMP/samples")" -gt 10
check "$B2 was never up in the pinned map meanwhile" test "$(grep -c "^$B2 1$" "$TMP/samples")" = 0
check "$B1 was up in every sample" test "$(grep "^$B1 " "$TMP/samples" | grep -vc " 1$")" = 0

# --- healthd killed: said so, health kept ------------------------------------------
start_healthd
check "healthd is back" eventually 5 status_is healthd up
kill -KILL "$HD_PID"
wait "$HD_PID" 2>/dev/null || true
HD_PID=
check "status says healthd is silent" eventually 5 status_is healthd silent
check "  ... with the heartbeat's age past the bound" test "$(status_field healthd_heartbeat_age_ms)" -gt 2000
check "/metrics: sluice_healthd_up 0" eventually 3 metric_is sluice_healthd_up 0
age1=$(metric sluice_healthd_heartbeat_age_seconds)
sleep 1.2
age2=$(metric sluice_healthd_heartbeat_age_seconds)
check "/metrics: the heartbeat's age rises ($age1 -> $age2)" \
    python3 -c "import sys; sys.exit(not float('$age2') > float('$age1') >= 2)"
since_start() { tail -n +"$(grep -n '^sluiced: serving' "$TMP/sluiced.log" | tail -1 | cut -d: -f1)" "$TMP/sluiced.log"; }
check "the log says so, once" test "$(since_start | grep -c 'no heartbeat from sluice-healthd')" = 1
check "fail static: $B1 stays up as last known" is_state $B1 up
check "fail static: $B2 stays down as last known" is_state $B2 down

echo "# $failures failure(s)"
[ "$failures" = 0 ]
