#!/bin/bash
# A big batch does not freeze the API (root): sluiced in a private network
# namespace applies a config file of 1,000 VIPs x 3 backends by SIGHUP in
# one batch while a client issues `status` back to back. Each answer
# carries ring_rebuilds, which the batch raises once per VIP as it builds
# rings: an answer strictly between the counts before and after the batch
# was given while the batch ran. Today's code answered none (the one
# control thread was busy for the whole batch). Then: everything was
# applied, a change sent during the batch was answered after it, and a
# restart with that state comes up with all of it. No timings asserted.
# Every loop is bounded; everything it starts is removed by pid/name.
set -euo pipefail

BUILD=${1:?usage: batch.sh BUILD_DIR}
if [ "$(id -u)" != 0 ]; then
    echo "batch.sh: skipped: needs root (netns, BPF)"
    exit 77
fi

NV=1000
NB=3
NS=sluice-itb-$$
TMP=$(mktemp -d /tmp/sluice-itb.XXXXXX)
PIN=/sys/fs/bpf/sluice-itb-$$
SOCK=$TMP/sluiced.sock
PID=
CLIENT_PID=
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../check.sh
. "$HERE/../check.sh"

cleanup() {
    if [ "$failures" != 0 ] && [ -f "$TMP/sluiced.log" ]; then
        echo "--- sluiced log (last 40 lines)"
        tail -40 "$TMP/sluiced.log"
    fi
    [ -n "$CLIENT_PID" ] && kill "$CLIENT_PID" 2>/dev/null && wait "$CLIENT_PID" 2>/dev/null || true
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$PIN" "$TMP"
}
trap cleanup EXIT

nsx() { nsenter --net="/run/netns/$NS" "$@"; }
ctl() { "$BUILD/controlplane/sluicectl" --socket "$SOCK" "$@"; }
field() { ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

start_sluiced() {
    # nsenter itself: $! is then sluiced (see sluiced.sh).
    nsenter --net="/run/netns/$NS" "$BUILD/controlplane/sluiced" --foreground \
        --config "$TMP/sluice.conf" --state "$TMP/state.conf" --socket "$SOCK" \
        --pin-root "$PIN" --max-vips $NV --max-backends $((NV * NB)) --max-ring 1009 \
        --flow-buckets 1024 2>>"$TMP/sluiced.log" &
    PID=$!
    for _ in $(seq 1200); do
        ready ctl && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "sluiced did not come up"
    return 1
}

ip netns add "$NS"
nsx ip link set lo up
nsx ip link add veth0 type veth peer name veth1
nsx ip link set veth0 up
nsx ip link set veth1 up
nsx ip addr add 10.1.0.1/24 dev veth0
nsx ip neigh replace 10.1.0.254 lladdr 02:00:00:00:00:fe nud permanent dev veth0
nsx ip route add 10.0.0.0/8 via 10.1.0.254 dev veth0

NODE="node set --interface veth0 --encap-source 10.1.0.1"
echo "$NODE" > "$TMP/sluice.conf"
start_sluiced
R0=$(field ring_rebuilds)

# 1,000 VIPs on distinct addresses (2,000 VIP table keys: more than the
# old fixed table held), 3 backends each.
python3 - "$NV" "$NB" "$NODE" > "$TMP/sluice.conf.new" <<'EOF'
import sys
nv, nb, node = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
out = [node]
for x in range(nv):
    vip = f"10.100.{x // 250}.{x % 250 + 1}:80/tcp"
    out.append(f"vip add {vip} --ring 1009")
    out += [f"backend add {vip} 10.{x // 250 + 10}.{x % 250}.{b + 1}" for b in range(nb)]
print("\n".join(out))
EOF
mv "$TMP/sluice.conf.new" "$TMP/sluice.conf"

# The client: `status` on one connection, back to back, each answer's
# ring_rebuilds on a line; at most 60 s.
python3 - "$SOCK" "$TMP/answers" "$TMP/stop" <<'EOF' &
import json, os, socket, sys, time
path, out, stop = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX)
s.connect(path)
f = s.makefile("rwb")
end = time.monotonic() + 60
with open(out, "w", buffering=1) as o:
    while time.monotonic() < end and not os.path.exists(stop):
        f.write(b'{"v":1,"op":"status"}\n')
        f.flush()
        line = f.readline()
        if not line:
            break
        o.write("%d\n" % json.loads(line)["ring_rebuilds"])
EOF
CLIENT_PID=$!
eventually 10 test -s "$TMP/answers"

marks=$(grep -c "reload of " "$TMP/sluiced.log" || true)
kill -HUP "$PID"
# A change sent during the batch: held, applied and answered once the
# batch is over (its VIP and backend come with the batch).
sleep 0.2
ctl backend set 10.100.0.1:80/tcp 10.10.0.1 --weight 7 > "$TMP/change.out" 2>&1 &
CHANGE_PID=$!
reloaded() { [ "$(grep -c "reload of " "$TMP/sluiced.log" || true)" -gt "$marks" ]; }
check "the reload finished" eventually 120 reloaded
touch "$TMP/stop"
wait "$CLIENT_PID" || true
CLIENT_PID=
rc_change=0
wait "$CHANGE_PID" || rc_change=$?

R1=$(field ring_rebuilds)
DURING=$(awk -v a="$R0" -v b="$R1" '$1 > a && $1 < b' "$TMP/answers" | wc -l)
echo "# ring_rebuilds $R0 -> $R1; $(wc -l < "$TMP/answers") answers, $DURING of them during the batch"
check "the batch built every ring ($R0 -> $R1)" test "$R1" -ge $((R0 + NV))
check "status was answered while the batch ran ($DURING answers)" test "$DURING" -gt 0
check "all $NV VIPs applied" test "$(field vips)" = "$NV"
check "the VIP table holds $NV VIPs on $NV addresses" ctl vip list 10.100.3.250:80/tcp
check "a change sent during the batch was applied after it (exit $rc_change: $(cat "$TMP/change.out"))" \
    test "$rc_change" = 0
WEIGHT=$(ctl --json backend list 10.100.0.1:80/tcp | python3 -c '
import json, sys
print([b["weight"] for b in json.load(sys.stdin)["backends"] if b["backend"] == "10.10.0.1"][0])')
check "  with its weight ($WEIGHT)" test "$WEIGHT" = 7
check "the reload applied $((NV + NV * NB)) changes in one batch" \
    grep -q "reload of $TMP/sluice.conf: $((NV + NV * NB)) change(s) applied" "$TMP/sluiced.log"

# Restart with that state: it all comes back (one batch).
kill -TERM "$PID"
wait "$PID" || true
PID=
start_sluiced
# The API answers `status` while the state loads; it says so.
loaded() { [ "$(field loading)" = False ]; }
check "the restart finishes loading" eventually 60 loaded
check "after a restart, all $NV VIPs" test "$(field vips)" = "$NV"

echo "batch.sh: $failures check(s) failed"
[ "$failures" = 0 ]
