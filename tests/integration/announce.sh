#!/bin/bash
# Integration test of VIP announcement (root): a private network namespace
# with a veth, sluiced attached to it with XDP, `node set --announce-table`,
# and the kernel's table checked after each change: one blackhole route of
# protocol 200 per VIP address in service, gone when every backend is down,
# when the node is drained (which a restart keeps) and after `detach`;
# never missing during a restart (sampled every 20 ms); moved with the
# table; tables 253-255 refused. With bird2 installed, bird in the
# namespace learns the route from the table. Every loop is bounded;
# everything it starts is removed by pid/name on exit.
set -euo pipefail

BUILD=${1:?usage: announce.sh BUILD_DIR}
if [ "$(id -u)" != 0 ]; then
    echo "announce.sh: skipped: needs root (netns, BPF)"
    exit 77
fi

NS=sluice-ann-$$
TMP=$(mktemp -d /tmp/sluice-ann.XXXXXX)
PIN=/sys/fs/bpf/sluice-ann-$$
SOCK=$TMP/sluiced.sock
PID=
SAMPLER_PID=
BIRD_PID=
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../check.sh
. "$HERE/../check.sh"

cleanup() {
    if [ "$failures" != 0 ] && [ -f "$TMP/sluiced.log" ]; then
        echo "--- sluiced log"
        cat "$TMP/sluiced.log"
    fi
    [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
    [ -n "$BIRD_PID" ] && kill "$BIRD_PID" 2>/dev/null || true
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$PIN" "$TMP"
}
trap cleanup EXIT

# nsenter, not `ip netns exec`: the latter remounts /sys, which hides the
# bpffs at /sys/fs/bpf and so the pins a restart must find.
nsx() { nsenter --net="/run/netns/$NS" "$@"; }
ctl() { nsx "$BUILD/controlplane/sluicectl" --socket "$SOCK" "$@"; }

start_sluiced() {
    nsenter --net="/run/netns/$NS" "$BUILD/controlplane/sluiced" --foreground \
        --config "$TMP/sluice.conf" --state "$TMP/state.conf" --socket "$SOCK" \
        --pin-root "$PIN" --max-vips 16 --max-backends 64 --flow-buckets 1024 \
        2>>"$TMP/sluiced.log" &
    PID=$!
    for _ in $(seq 100); do
        ready ctl && return 0
        sleep 0.05
    done
    echo "sluiced did not come up:"; cat "$TMP/sluiced.log"
    return 1
}

stop_sluiced() {
    kill -TERM "$PID"
    wait "$PID" || true
    PID=
}

# routes TABLE: our routes in TABLE, one per line.
routes() { ip -n "$NS" route show table "$1" proto 200 | sed 's/ *$//'; }
# announced TABLE ADDR: exactly one route of ours there, a blackhole of ADDR.
announced() { [ "$(routes "$1")" = "blackhole $2" ]; }
# withdrawn TABLE: no route of ours there.
withdrawn() { [ -z "$(routes "$1")" ]; }

# --- the namespace ------------------------------------------------------
ip netns add "$NS"
nsx ip link set lo up
nsx ip link add veth0 type veth peer name veth1
nsx ip link set veth0 up
nsx ip link set veth1 up
nsx ip addr add 10.0.0.1/24 dev veth0
for i in 11 12; do
    nsx ip neigh replace 10.0.0.$i lladdr 02:00:00:00:00:$i nud permanent dev veth0
done

# Two VIPs on one address (one route) and one whose only backend is
# drained (never announced).
cat > "$TMP/sluice.conf" <<CONF
node set --interface veth0 --encap-source 10.0.0.1
vip add 10.100.0.1:80/tcp
backend add 10.100.0.1:80/tcp 10.0.0.11
backend add 10.100.0.1:80/tcp 10.0.0.12
vip add 10.100.0.1:53/udp
backend add 10.100.0.1:53/udp 10.0.0.11
vip add 10.100.0.3:80/tcp
backend add 10.100.0.3:80/tcp 10.0.0.12 --drain
CONF

check "sluiced starts" start_sluiced
check "nothing announced without a table" withdrawn 100
check "node set --announce-table 100" ctl node set --announce-table 100
check "table 100 has blackhole 10.100.0.1 once, nothing else" announced 100 10.100.0.1
# The kernel's own words: type, protocol and scope (universe is "global").
# Not filtered by protocol: ip leaves out the fields it filtered on.
route_shape() {
    ip -n "$NS" -j -d route show table 100 | python3 -c '
import json, sys
r = json.load(sys.stdin)
ok = len(r) == 1 and r[0].get("type") == "blackhole" and r[0].get("dst") == "10.100.0.1" \
    and str(r[0].get("protocol")) == "200" and r[0].get("scope") == "global"
if not ok:
    print(r)
sys.exit(0 if ok else 1)'
}
check "blackhole, protocol 200, scope universe" route_shape
status_table() { ctl --json status | grep -q "\"announce_table\": $1"; }
check "status names the table" status_table 100
status_announced() { ctl --json status | python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if s["announced"] == sys.argv[1:] and s["drained"] is False else 1)' "$@"; }
check "status lists the announced address" status_announced 10.100.0.1
# metric NAME VALUE: sluiced's /metrics (its default listener, in the
# namespace) has the sample NAME VALUE.
metric() { nsx curl -s "http://127.0.0.1:9109/metrics" | grep -qx "$1 $2"; }
check "sluice_announced_addresses 1" eventually 5 metric sluice_announced_addresses 1
check "sluice_node_drained 0" eventually 5 metric sluice_node_drained 0
ring_info() { nsx curl -s "http://127.0.0.1:9109/metrics" |
    grep -q "^sluice_vip_ring_info{vip=\"10.100.0.1:80/tcp\",digest=\"$(ctl ring digest 10.100.0.1:80/tcp | awk '{print $3}')\"} 1\$"; }
check "sluice_vip_ring_info has the ring digest" eventually 5 ring_info

# --- health -------------------------------------------------------------------
ctl health set 10.100.0.1:80/tcp 10.0.0.11 down
ctl health set 10.100.0.1:80/tcp 10.0.0.12 down
check "one VIP of the address still in service: still announced" announced 100 10.100.0.1
ctl health set 10.100.0.1:53/udp 10.0.0.11 down
check "every backend of the address down: withdrawn" withdrawn 100
check "status lists nothing" status_announced
ctl health clear 10.100.0.1:53/udp 10.0.0.11
check "a backend back: announced again" announced 100 10.100.0.1
ctl health clear 10.100.0.1:80/tcp 10.0.0.11
ctl health clear 10.100.0.1:80/tcp 10.0.0.12

# --- drain ----------------------------------------------------------------------
check "node drain" ctl node drain
check "drained: withdrawn" withdrawn 100
drained_status() { ctl --json status | grep -q '"drained": true'; }
check "status says drained" drained_status
check "sluice_node_drained 1" eventually 5 metric sluice_node_drained 1
check "sluice_announced_addresses 0" eventually 5 metric sluice_announced_addresses 0
check "state file keeps --drained" grep -q -- '--drained' "$TMP/state.conf"
stop_sluiced
check "SIGTERM of a drained node: still nothing" withdrawn 100
check "sluiced restarts" start_sluiced
check "a drained node stays drained across a restart" drained_status
check "and announces nothing" withdrawn 100
check "node undrain" ctl node undrain
check "undrained: announced" announced 100 10.100.0.1

# --- restart: the route never disappears --------------------------------------------
# A bounded sampler (at most 1,500 samples, 20 ms apart): one line per
# sample, the number of our routes in table 100.
sampler() {
    for _ in $(seq 1500); do
        [ -e "$TMP/stop-sampler" ] && return 0
        routes 100 | grep -c 'blackhole 10.100.0.1' >>"$TMP/samples" || true
        sleep 0.02
    done
}
sampler &
SAMPLER_PID=$!
sleep 0.2
stop_sluiced
start_sluiced
sleep 0.3
touch "$TMP/stop-sampler"
wait "$SAMPLER_PID" || true
SAMPLER_PID=
check "sampled during the restart ($(wc -l <"$TMP/samples") samples)" \
    test "$(wc -l <"$TMP/samples")" -ge 10
check "the route was there in every sample ($(sort "$TMP/samples" | uniq -c | tr '\n' ' '))" \
    test "$(sort -u "$TMP/samples")" = 1
check "the restarted sluiced found its route in place" \
    test "$(grep -c 'routes of ours already there' "$TMP/sluiced.log")" -ge 1

# --- bird learns it ---------------------------------------------------------------
if command -v bird >/dev/null && command -v birdc >/dev/null; then
    cat >"$TMP/bird.conf" <<BIRD
router id 10.0.0.1;
protocol device {}
protocol kernel sluice {
    learn;
    kernel table 100;
    ipv4 { import all; export none; };
}
BIRD
    nsx bird -c "$TMP/bird.conf" -s "$TMP/bird.ctl" -P "$TMP/bird.pid"
    for _ in $(seq 100); do [ -s "$TMP/bird.pid" ] && break; sleep 0.05; done
    BIRD_PID=$(cat "$TMP/bird.pid" 2>/dev/null || true)
    bird_has() { nsx birdc -s "$TMP/bird.ctl" show route 2>/dev/null | grep -q '10.100.0.1/32'; }
    check "bird learns 10.100.0.1/32 from table 100" eventually 10 bird_has
    [ -n "$BIRD_PID" ] && kill "$BIRD_PID" 2>/dev/null || true
    BIRD_PID=
else
    echo "# bird2 not installed: the bird check is skipped (scripts/install-deps.sh installs it)"
fi

# --- detach, table moves, refusals ---------------------------------------------------
check "detach" ctl detach
check "detach withdraws" withdrawn 100
stop_sluiced
check "sluiced restarts after a detach" start_sluiced
check "attached again: announced" announced 100 10.100.0.1
check "node set --announce-table 101" ctl node set --announce-table 101
check "moved: gone from 100" withdrawn 100
check "moved: in 101" announced 101 10.100.0.1
set +e
out=$(ctl node set --announce-table 254 2>&1)
rc=$?
set -e
check "table 254 refused with exit 1 (got $rc)" test "$rc" = 1
check "the refusal says why ($out)" sh -c "printf '%s' \"\$1\" | grep -q 'main'" _ "$out"
check "the refusal changed nothing" announced 101 10.100.0.1
check "node set --announce-table 0" ctl node set --announce-table 0
check "0 withdraws" withdrawn 101

echo "# $failures failure(s)"
[ "$failures" = 0 ]
