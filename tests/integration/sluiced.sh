#!/bin/bash
# Integration test of sluiced and sluicectl (root): a private network
# namespace with a veth, sluiced attached to it with its pins in a private
# bpffs directory, driven only through sluicectl. Checks the state, the
# BPF maps, the ring digest, forwarding that never stops across a restart
# (with the same pinned program id), SIGHUP applying only the diff, and a
# non-root client refused. Every loop is bounded; everything it starts is
# removed by pid/name on exit.
set -euo pipefail

BUILD=${1:?usage: sluiced.sh BUILD_DIR}
if [ "$(id -u)" != 0 ]; then
    echo "sluiced.sh: skipped: needs root (netns, BPF)"
    exit 77
fi

NS=sluice-it-$$
TMP=$(mktemp -d /tmp/sluice-it.XXXXXX)
PIN=/sys/fs/bpf/sluice-it-$$
SOCK=$TMP/sluiced.sock
PID=
LOOP_PID=
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../check.sh
. "$HERE/../check.sh"

cleanup() {
    if [ "$failures" != 0 ] && [ -f "$TMP/sluiced.log" ]; then
        echo "--- sluiced log"
        cat "$TMP/sluiced.log"
    fi
    [ -n "$LOOP_PID" ] && kill "$LOOP_PID" 2>/dev/null || true
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
    # nsenter itself, not through the nsx function: backgrounding a function
    # forks a shell, and $! would be that shell, not sluiced.
    nsenter --net="/run/netns/$NS" "$BUILD/controlplane/sluiced" --foreground --config "$TMP/sluice.conf" \
        --state "$TMP/state.conf" --socket "$SOCK" --pin-root "$PIN" \
        --max-vips 16 --max-backends 64 --flow-buckets 1024 \
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

xdp_prog_id() {
    ip -n "$NS" -d link show dev veth0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p' | head -1
}

digest() { ctl ring digest "$1" | awk '{print $3}'; }

# --- the namespace ------------------------------------------------------
ip netns add "$NS"
nsx ip link set lo up
nsx ip link add veth0 type veth peer name veth1
nsx ip link set veth0 up
nsx ip link set veth1 up
nsx ip addr add 10.0.0.1/24 dev veth0
nsx ip addr add 10.1.1.1/32 dev lo  # the balancer's own address, not the encap source
for i in 11 12 13; do
    nsx ip neigh replace 10.0.0.$i lladdr 02:00:00:00:00:$i nud permanent dev veth0
done
nsx sysctl -qw net.ipv4.ip_forward=1

cat > "$TMP/sluice.conf" <<CONF
# integration test config
node set --interface veth0 --encap-source 10.0.0.1
vip add 10.100.0.1:80/tcp
backend add 10.100.0.1:80/tcp 10.0.0.11
backend add 10.100.0.1:80/tcp 10.0.0.12
vip add 10.100.0.2:53/udp
backend add 10.100.0.2:53/udp 10.0.0.13
CONF

# --- start, state, maps ----------------------------------------------------
check "sluiced starts and answers" start_sluiced
status_names_veth0() { ctl status | grep veth0 >/dev/null; }
check "status names the interface" status_names_veth0
PROG1=$(xdp_prog_id)
check "an XDP program is attached to veth0" test -n "$PROG1"
check "two VIPs listed" test "$(ctl vip list | tail -n +2 | wc -l)" = 2
check "pinned maps exist" test -n "$(find "$PIN" -name vip_table | head -1)"

# The fast path's own view: the pinned backends map holds exactly the
# configured backends, in service (state 1 = LB_BACKEND_UP).
backends_in_map() {
    bpftool -j map dump pinned "$(find "$PIN" -name backends | head -1)" | python3 -c '
import json, socket, struct, sys
up = set()
for e in json.load(sys.stdin):
    v = e.get("formatted", {}).get("value") or {}
    if v.get("state") == 1 and v.get("family") == 4:
        up.add(socket.inet_ntoa(struct.pack("<I", v["addr"]["w"][0])))
print(" ".join(sorted(up)))'
}
check "pinned backends map holds the configured backends" \
    test "$(backends_in_map)" = "10.0.0.11 10.0.0.12 10.0.0.13"

D2=$(digest 10.100.0.1:80/tcp)
ctl backend add 10.100.0.1:80/tcp 10.0.0.13
D3=$(digest 10.100.0.1:80/tcp)
check "digest changed with a third backend" test "$D2" != "$D3"
ctl backend del 10.100.0.1:80/tcp 10.0.0.13
check "digest is a function of the backend set" test "$D2" = "$(digest 10.100.0.1:80/tcp)"
check "state file persisted" grep -q "backend add 10.100.0.2:53/udp 10.0.0.13" "$TMP/state.conf"

# Bad input: refused with exit 1 (daemon) or 2 (command line), state kept.
set +e
ctl backend add 10.100.0.1:80/tcp 10.0.0.11 >/dev/null 2>&1; rc_dup=$?
ctl vip add 10.100.0.3:80/tcp --ring 1000 >/dev/null 2>&1; rc_ring=$?
ctl backend add 10.100.0.1:80/tcp nonsense >/dev/null 2>&1; rc_addr=$?
ctl backend add 10.100.0.1:80/tcp 10.1.1.1 >"$TMP/local.out" 2>&1; rc_local=$?
ctl backend add 10.100.0.1:80/tcp 10.0.0.255 >"$TMP/bcast.out" 2>&1; rc_bcast=$?
ctl vip add '[::ffff:10.100.0.9]:80/tcp' >"$TMP/mapped.out" 2>&1; rc_mapped=$?
set -e
check "the balancer's own address refused as a backend (exit 1)" test "$rc_local" = 1
check "... saying its route is local" grep -q "10.1.1.1 is this host's own address (route is local)" "$TMP/local.out"
check "a connected subnet's broadcast refused as a backend" grep -q "route is broadcast" "$TMP/bcast.out"
check "... with exit 1" test "$rc_bcast" = 1
check "an IPv4-mapped VIP refused, naming the IPv4 address" grep -q "use 10.100.0.9" "$TMP/mapped.out"
check "... with exit 1" test "$rc_mapped" = 1
check "duplicate backend refused (exit 1)" test "$rc_dup" = 1
check "non-prime ring refused (exit 1)" test "$rc_ring" = 1
check "bad address refused (exit 2)" test "$rc_addr" = 2
check "refusals changed nothing" test "$(ctl vip list | tail -n +2 | wc -l)" = 2

# --- forwarding never stops across a restart ----------------------------------
# A TCP SYN from 192.0.2.7:40000 to the VIP, run through the pinned program
# with BPF_PROG_TEST_RUN in a bounded loop while sluiced restarts.
FRAMES=$HERE/frames.py
python3 "$FRAMES" "$TMP/syn.bin" syn 192.0.2.7 40000 10.100.0.1 80
# The same flow's SYN and ACK from 192.0.2.8:41000, for the drain check.
python3 "$FRAMES" "$TMP/syn8.bin" syn 192.0.2.8 41000 10.100.0.1 80
python3 "$FRAMES" "$TMP/ack8.bin" ack 192.0.2.8 41000 10.100.0.1 80
PROG_PIN=$(find "$PIN" -name prog | head -1)
# The backend a frame is sent to: the outer IPv4 destination. Pinned to one
# CPU: the connection table is per CPU.
backend_of() {
    nsx taskset -c 0 bpftool prog run pinned "$PROG_PIN" data_in "$1" \
        data_out "$TMP/out.bin" repeat 1 >/dev/null 2>&1
    python3 -c 'import socket,sys; print(socket.inet_ntoa(open(sys.argv[1],"rb").read()[30:34]))' "$TMP/out.bin"
}
run_once() { nsx bpftool prog run pinned "$PROG_PIN" data_in "$TMP/syn.bin" repeat 1 2>&1 | sed -n 's/.*[Rr]eturn value: \([0-9]*\).*/\1/p'; }
FIRST=$(run_once)
forwarded() { [ "$FIRST" = 3 ] || [ "$FIRST" = 4 ]; }
check "the VIP packet is forwarded (XDP_TX=3 or XDP_REDIRECT=4)" forwarded
(
    # Bounded: at most 600 runs or 30 s.
    end=$((SECONDS + 30))
    for _ in $(seq 600); do
        [ $SECONDS -ge $end ] && break
        [ -f "$TMP/stop-loop" ] && break
        echo "$(run_once)" >> "$TMP/loop.txt"
    done
) &
LOOP_PID=$!
sleep 0.3
stop_sluiced
check "XDP program still attached after SIGTERM" test "$(xdp_prog_id)" = "$PROG1"
sleep 0.3
check "sluiced restarts" start_sluiced
sleep 0.3
touch "$TMP/stop-loop"
wait "$LOOP_PID" || true
LOOP_PID=
check "forwarding loop ran" test "$(wc -l < "$TMP/loop.txt")" -gt 5
check "every run during the restart forwarded ($(sort "$TMP/loop.txt" | uniq -c | tr '\n' ' '))" \
    test "$(grep -cv "^$FIRST\$" "$TMP/loop.txt")" = 0
check "same pinned program id after the restart" test "$(xdp_prog_id)" = "$PROG1"
adopted() { ctl --json status | grep '"adopted": true' >/dev/null; }
check "restarted sluiced adopted the pinned program" adopted

# A flow on a draining backend survives a restart: the restarted sluiced
# takes the same backend ids and gens, so the pinned flow entry still
# names a live backend.
# Re-added backends get gens that counting afresh from a config file
# would not reproduce: only ids and gens taken from the pins keep flows.
for b in 10.0.0.11 10.0.0.12; do
    ctl backend del 10.100.0.1:80/tcp $b
    ctl backend add 10.100.0.1:80/tcp $b
done
DRAINED=$(backend_of "$TMP/syn8.bin")
ctl backend set 10.100.0.1:80/tcp "$DRAINED" --drain
check "the drained backend keeps its flow ($DRAINED)" test "$(backend_of "$TMP/ack8.bin")" = "$DRAINED"
check "a new flow avoids the drained backend" test "$(backend_of "$TMP/syn8.bin")" != "$DRAINED"
backend_of "$TMP/syn8.bin" >/dev/null
ctl backend set 10.100.0.1:80/tcp "$DRAINED" --undrain
DRAINED=$(backend_of "$TMP/syn8.bin")
ctl backend set 10.100.0.1:80/tcp "$DRAINED" --drain
stop_sluiced
start_sluiced
check "after a restart the drained backend still keeps its flow" \
    test "$(backend_of "$TMP/ack8.bin")" = "$DRAINED"
ctl backend set 10.100.0.1:80/tcp "$DRAINED" --undrain

# A neighbour that changed while sluiced was down: the restart keeps the
# next hop the pinned entry holds (the fast path forwarded with it all
# along, and 100,000 route lookups would hold up the restart) and
# re-resolves every backend as soon as it has loaded, not at the first
# 5 s refresh tick.
nh_mac_of() {
    bpftool -j map dump pinned "$(find "$PIN" -name backends | head -1)" | python3 -c '
import json, socket, struct, sys
for e in json.load(sys.stdin):
    v = e.get("formatted", {}).get("value") or {}
    if v.get("state") and v.get("family") == 4 and \
            socket.inet_ntoa(struct.pack("<I", v["addr"]["w"][0])) == sys.argv[1]:
        print(":".join("%02x" % (b & 0xff) for b in v["nh_dmac"]))
        break' "$1"
}
check "10.0.0.11's cached next hop is its neighbour's MAC" \
    test "$(nh_mac_of 10.0.0.11)" = 02:00:00:00:00:11
stop_sluiced
nsx ip neigh replace 10.0.0.11 lladdr 02:00:00:00:01:11 nud permanent dev veth0
start_sluiced
for _ in $(seq 40); do
    [ "$(nh_mac_of 10.0.0.11)" = 02:00:00:00:01:11 ] && break
    sleep 0.05
done
check "a neighbour changed while down is re-resolved within 2 s of the restart" \
    test "$(nh_mac_of 10.0.0.11)" = 02:00:00:00:01:11
nsx ip neigh replace 10.0.0.11 lladdr 02:00:00:00:00:11 nud permanent dev veth0

# --- what the operator sees of that traffic ----------------------------------------
stats_count() {
    ctl --json stats --vip 10.100.0.1:80/tcp | python3 -c 'import json,sys; print(json.load(sys.stdin)["vips"][0]["packets"])'
}
flows_has_client() { ctl flows 10.100.0.1:80/tcp | grep 192.0.2.7 >/dev/null; }
save_has_vips() { ctl save | grep "^vip add 10.100.0.2:53/udp" >/dev/null; }
check "stats count the forwarded packets ($(stats_count))" test "$(stats_count)" -gt 5
check "flows lists the test client" flows_has_client
# LAST SEEN is the time since the client's last packet, seconds ago (it
# was the table's raw clock stamp, a number in the millions).
flows_seen_recently() {
    ctl flows 10.100.0.1:80/tcp |
        awk '$1 == "192.0.2.7" && $NF == "ago" { sub("s$", "", $(NF-1)); if ($(NF-1) + 0 < 120) ok = 1 }
             END { exit !ok }'
}
check "flows shows the client last seen seconds ago" flows_seen_recently
check "save prints the configuration" save_has_vips
# /metrics (default 127.0.0.1:9109 in the namespace) counts the same
# packets as `stats` (both read the same per-CPU counters; the snapshot is
# at most a second old, so wait for it to catch up).
metrics_packets() {
    nsx curl -s --max-time 2 http://127.0.0.1:9109/metrics |
        awk -F' ' '/^sluice_vip_packets_total\{vip="10.100.0.1:80\/tcp"\}/ {print $2}'
}
metrics_match() {
    local want
    want=$(stats_count)
    for _ in $(seq 30); do
        [ "$(metrics_packets)" = "$want" ] && return 0
        sleep 0.1
    done
    return 1
}
check "/metrics counts what stats counts ($(metrics_packets))" metrics_match

# --- SIGHUP applies only the diff ---------------------------------------------
U1=$(digest 10.100.0.2:53/udp)
ID12=$(ctl --json backend list 10.100.0.1:80/tcp | python3 -c 'import json,sys; print([b["id"] for b in json.load(sys.stdin)["backends"] if b["backend"]=="10.0.0.12"][0])')
sed -i 's|^backend add 10.100.0.1:80/tcp 10.0.0.11$|backend add 10.100.0.1:80/tcp 10.0.0.11 --weight 50|' "$TMP/sluice.conf"
echo "backend add 10.100.0.1:80/tcp 10.0.0.13" >> "$TMP/sluice.conf"
kill -HUP "$PID"
has_13() { ctl backend list 10.100.0.1:80/tcp | grep 10.0.0.13 >/dev/null; }
weight_50() { ctl backend list 10.100.0.1:80/tcp | grep 10.0.0.11 | grep ' 50 ' >/dev/null; }
# A config file is applied whole: once 10.0.0.13 shows, so does the weight.
check "SIGHUP added the new backend" eventually 5 has_13
check "SIGHUP changed the weight" weight_50
check "untouched VIP kept its ring" test "$U1" = "$(digest 10.100.0.2:53/udp)"
check "unchanged backend kept its id" test "$ID12" = "$(ctl --json backend list 10.100.0.1:80/tcp | python3 -c 'import json,sys; print([b["id"] for b in json.load(sys.stdin)["backends"] if b["backend"]=="10.0.0.12"][0])')"
echo "garbage line" >> "$TMP/sluice.conf"
kill -HUP "$PID"
check "a bad config line is reported with file:line" eventually 5 grep -q "sluice.conf:9" "$TMP/sluiced.log"
four_backends() { [ "$(ctl backend list | grep -c 10.100.0)" = 4 ]; }
check "a bad config changes nothing" four_backends

# --- access ---------------------------------------------------------------------
set +e
nsx setpriv --reuid 65534 --regid 65534 --clear-groups \
    "$BUILD/controlplane/sluicectl" --socket "$SOCK" status >/dev/null 2>&1
rc_user=$?
set -e
check "a non-root client is refused (exit 3)" test "$rc_user" = 3

# --- interfaces that are missing or down -----------------------------------------
nsx ip link add veth2 type veth peer name veth3
set +e
missing_msg=$(ctl node set --interface veth0 --interface nosuch0 2>&1); rc_missing=$?
down_msg=$(ctl node set --interface veth0 --interface veth2 2>&1); rc_down=$?
set -e
check "a missing interface is refused (exit 1): $missing_msg" test "$rc_missing" = 1
check "a down interface is refused with a clear error: $down_msg" \
    bash -c "[ $rc_down = 1 ] && grep -qi 'down' <<< \"\$1\"" _ "$down_msg"
check "veth0 still attached after the refusals" test "$(xdp_prog_id)" = "$PROG1"

# --- explicit detach --------------------------------------------------------------
ctl detach
check "detach removes the XDP program" test -z "$(xdp_prog_id)"

stop_sluiced
echo "sluiced.sh: $failures check(s) failed"
[ "$failures" = 0 ]
