#!/bin/bash
# The API socket's limits, against a real sluiced (root, no fast path, a
# private network namespace for its /metrics): 300 idle clients do not
# lock out sluicectl or a healthd-style report; idle and stalled clients
# are closed; sluicectl facing a server that closes at once exits 3 with a
# message, never 141 (SIGPIPE); a read group may list but not change; every
# program has --version and an unknown command exits 2, named. Every loop
# is bounded; what it starts is removed by pid/name on exit.
set -euo pipefail

BUILD=${1:?usage: api_limits.sh BUILD_DIR}
if [ "$(id -u)" != 0 ]; then
    echo "api_limits.sh: skipped: needs root (groups, setpriv, netns)"
    exit 77
fi

NS=sluice-api-$$
GRP=sluice-ro-$$
TMP=$(mktemp -d /tmp/sluice-api.XXXXXX)
SOCK=$TMP/sluiced.sock
CTL=$BUILD/controlplane/sluicectl
PID=
HOLD_PID=
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../check.sh
. "$HERE/../check.sh"

cleanup() {
    if [ "$failures" != 0 ] && [ -f "$TMP/sluiced.log" ]; then
        echo "--- sluiced log"
        tail -50 "$TMP/sluiced.log"
    fi
    [ -n "$HOLD_PID" ] && kill "$HOLD_PID" 2>/dev/null && wait "$HOLD_PID" 2>/dev/null || true
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    getent group "$GRP" >/dev/null && groupdel "$GRP" || true
    rm -rf "$TMP"
}
trap cleanup EXIT

ctl() { "$CTL" --socket "$SOCK" --timeout 5000 "$@"; }
# sluicectl as nobody: setpriv options for its groups, then the command.
as_nobody() {
    local groups=$1
    shift
    # shellcheck disable=SC2086
    setpriv --reuid=65534 $groups -- "$CTL" --socket "$SOCK" --timeout 5000 "$@"
}

start_sluiced() {   # start_sluiced [SLUICED OPTION]...
    nsenter --net="/run/netns/$NS" "$BUILD/controlplane/sluiced" --foreground --no-fastpath \
        --config "$TMP/sluice.conf" --state "$TMP/state.conf" --socket "$SOCK" \
        --metrics 127.0.0.1:9109 "$@" 2>>"$TMP/sluiced.log" &
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

metric() {   # metric SERIES: its value on /metrics
    nsenter --net="/run/netns/$NS" curl -sf http://127.0.0.1:9109/metrics |
        awk -v s="$1" '$1 == s { print $2 }'
}
metric_at_least() { local v; v=$(metric "$1"); [ -n "$v" ] && [ "$v" -ge "$2" ]; }

status_value() { ctl status | awk -v k="$1" '$1 == k { print $2 }'; }

ip netns add "$NS"
ip -n "$NS" link set lo up
# nobody must reach the socket (mktemp made the directory 0700).
chmod 755 "$TMP"
cat > "$TMP/sluice.conf" <<CONF
vip add 10.100.0.1:80/tcp --check tcp
backend add 10.100.0.1:80/tcp 10.0.0.11
CONF

# --- 300 idle clients against the default cap of 256 ----------------------
check "sluiced starts with the default limits" start_sluiced
check "status shows the cap" test "$(status_value api.max_clients)" = 256

python3 - "$SOCK" "$TMP/held" <<'PY' &
import socket, sys, time
path, ready = sys.argv[1], sys.argv[2]
held = []
for _ in range(300):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    held.append(s)
open(ready, "w").write("300\n")
time.sleep(60)          # killed long before
PY
HOLD_PID=$!
check "300 idle clients connected" eventually 20 test -s "$TMP/held"
check "sluicectl status is served past 300 idle clients" ctl status
targets_listed() { ctl health targets | grep -q 10.0.0.11; }
check "health.targets (healthd's read) is served" targets_listed
check "health.report (healthd's write) is served" \
    ctl health report 10.100.0.1:80/tcp 10.0.0.11 down --reason "api_limits test"
backend_down() { ctl backend list | grep 10.0.0.11 | grep -q down; }
check "the report took effect" backend_down
evicted=$(status_value api.evicted)
check "status counts the idle clients closed for newcomers ($evicted)" test "${evicted:-0}" -ge 44
check "status: no more clients than the cap" test "$(status_value api.clients)" -le 256
check "/metrics counts them" eventually 5 metric_at_least \
    'sluice_api_clients_closed_total{reason="evicted"}' 44
check "/metrics has the connected-clients gauge" eventually 5 metric_at_least sluice_api_clients 1
cap_lines=$(grep -c "clients (--api-max-clients): closed the client idle longest" "$TMP/sluiced.log" || true)
check "sluiced logged the cap, rate-limited ($cap_lines lines for $evicted)" \
    test "$cap_lines" -ge 1 -a "$cap_lines" -le 2
kill "$HOLD_PID"
wait "$HOLD_PID" 2>/dev/null || true
HOLD_PID=
stop_sluiced

# --- idle and stalled clients, the read group -------------------------------
groupadd "$GRP"
check "sluiced starts with short timeouts and a read group" \
    start_sluiced --api-idle-timeout 2s --api-stall-timeout 1s --api-read-group "$GRP" \
    --api-max-clients 64

# Seconds until sluiced closes a connection that sends $2 and then nothing.
closed_after() {
    python3 - "$SOCK" "$1" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode())
s.settimeout(10)
t = time.monotonic()
try:
    while s.recv(4096):
        pass
except socket.timeout:
    print("never")
    sys.exit(0)
print("%.2f" % (time.monotonic() - t))
PY
}
idle=$(closed_after "")
check "an idle client is closed after --api-idle-timeout 2s ($idle s)" \
    python3 -c "import sys; sys.exit(not 1.5 <= float('$idle') <= 4.5)"
stall=$(closed_after '{"v":1,"op":')
check "a stalled request line is closed after --api-stall-timeout 1s ($stall s)" \
    python3 -c "import sys; sys.exit(not 0.7 <= float('$stall') <= 2.9)"
check "status counts both" test "$(status_value api.closed_idle)" -ge 1 -a \
    "$(status_value api.closed_stalled)" -ge 1

mode=$(stat -c '%a %U %G' "$SOCK")
check "the socket is root:$GRP 0660 ($mode)" test "$mode" = "660 root $GRP"
check "a member (gid) lists" as_nobody "--regid=$GRP --clear-groups" vip list
check "a member (supplementary group) shows status" \
    as_nobody "--regid=65534 --groups=$(getent group "$GRP" | cut -d: -f3)" status
check "a member reads stats, health targets, save" bash -c "
    setpriv --reuid=65534 --regid=$GRP --clear-groups -- $CTL --socket $SOCK stats >/dev/null &&
    setpriv --reuid=65534 --regid=$GRP --clear-groups -- $CTL --socket $SOCK health targets >/dev/null &&
    setpriv --reuid=65534 --regid=$GRP --clear-groups -- $CTL --socket $SOCK save >/dev/null"
refused_to_member() {   # refused_to_member COMMAND...: exit 1, named as not a read
    local rc=0
    as_nobody "--regid=$GRP --clear-groups" "$@" 2>"$TMP/err" >/dev/null || rc=$?
    [ "$rc" = 1 ] && grep -q "permission denied: .* is not a read" "$TMP/err"
}
check "a member's vip add is refused (exit 1)" refused_to_member vip add 10.100.0.9:80/tcp
check "a member's backend set is refused" refused_to_member backend set 10.100.0.1:80/tcp 10.0.0.11 --drain
check "a member's health report is refused" refused_to_member health report 10.100.0.1:80/tcp 10.0.0.11 up
check "a member's detach is refused" refused_to_member detach
check "nothing changed" test "$(ctl vip list | tail -n +2 | wc -l)" = 1
not_member() {
    local rc=0
    as_nobody "--regid=65534 --clear-groups" status 2>"$TMP/err" >/dev/null || rc=$?
    [ "$rc" = 3 ] && grep -q "permission denied" "$TMP/err"
}
check "a non-member cannot connect (exit 3, permission denied)" not_member
check "root still changes" ctl vip add 10.100.0.9:80/tcp
check "root still deletes" ctl vip del 10.100.0.9:80/tcp
check "status counts the refused changes" test "$(status_value api.read_only_refused)" = 4
check "/metrics counts them" eventually 5 metric_at_least sluice_api_requests_denied_total 4
stop_sluiced

# --- a server that closes at once: exit 3 with a message, never SIGPIPE -----
python3 - "$TMP/closer.sock" <<'PY' &
import socket, sys
l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
l.bind(sys.argv[1])
l.listen(64)
l.settimeout(30)
for _ in range(20):
    c, _ = l.accept()
    c.close()
PY
HOLD_PID=$!
closer_rcs() {
    local rc all=""
    for _ in $(seq 20); do
        rc=0
        "$CTL" --socket "$TMP/closer.sock" status 2>"$TMP/err" || rc=$?
        all="$all $rc"
        grep -q "sluiced at $TMP/closer.sock: connection closed by sluiced" "$TMP/err" || {
            echo "message: $(cat "$TMP/err")"
            all="$all bad-message"
        }
    done
    echo "$all"
}
eventually 5 test -S "$TMP/closer.sock"
rcs=$(closer_rcs)
check "against a server that closes at once: 20 x exit 3 with the message ($rcs)" \
    test "$(echo "$rcs" | tr ' ' '\n' | grep -cx 3)" = 20
wait "$HOLD_PID" 2>/dev/null || true
HOLD_PID=
rc=0; ctl status 2>"$TMP/err" || rc=$?
check "no sluiced: exit 3 naming the socket" test "$rc" = 3
check "  and why" grep -q "sluiced at $SOCK: no such socket" "$TMP/err"

# --- --version, unknown commands --------------------------------------------
for prog in controlplane/sluiced controlplane/sluicectl healthd/sluice-healthd \
            xdp/sluice-decap dataplane/sluice-dpdk; do
    [ -x "$BUILD/$prog" ] || continue
    name=$(basename "$prog")
    check "$name --version" bash -c "'$BUILD/$prog' --version | grep -q '^$name [0-9]'"
    check "$name --help" bash -c "'$BUILD/$prog' --help >/dev/null"
done
usage_error() {   # usage_error WANT COMMAND...: exit 2, stderr has WANT
    local want=$1 rc=0
    shift
    "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
    [ "$rc" = 2 ] && grep -qF "$want" "$TMP/err" && ! [ -s "$TMP/out" ]
}
check "sluicectl explain: exit 2, named" usage_error "unknown command 'explain'; commands: vip" \
    "$CTL" explain
check "sluicectl explain --help: exit 2, named" usage_error "unknown command 'explain'" \
    "$CTL" explain --help
check "sluicectl vip frob: exit 2" usage_error "unknown command 'vip frob'; 'vip' takes add" \
    "$CTL" vip frob
check "sluicectl vip frob --help: exit 2" usage_error "unknown command 'vip frob'" \
    "$CTL" vip frob --help
check "sluicectl vip: exit 2, needs a subcommand" usage_error "'vip' needs a subcommand" \
    "$CTL" vip
check "sluicectl ring: exit 2" usage_error "'ring' needs a subcommand: digest" "$CTL" ring
check "sluicectl with no command: exit 2" usage_error "Usage: sluicectl" "$CTL"
check "sluicectl --frob: exit 2" usage_error "Try 'sluicectl --help'" "$CTL" --frob
check "sluicectl vip --help still helps" bash -c "'$CTL' vip --help | grep -q 'Usage: sluicectl vip add'"
check "sluice-decap frob: exit 2, named" usage_error "unknown command 'frob'; commands: attach" \
    "$BUILD/xdp/sluice-decap" frob
check "sluiced frob: exit 2, named" usage_error "unexpected argument 'frob'" \
    "$BUILD/controlplane/sluiced" frob
check "sluice-healthd frob: exit 2, named" usage_error "unexpected argument 'frob'" \
    "$BUILD/healthd/sluice-healthd" frob

no_sanitizer_report() { ! grep -q "Sanitizer\|runtime error" "$TMP/sluiced.log"; }
check "sluiced's log has no sanitizer report" no_sanitizer_report

echo "# $failures failure(s)"
[ "$failures" = 0 ]
