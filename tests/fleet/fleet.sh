#!/bin/bash
# Fleet test (root): three Sluice nodes announce the VIP over BGP to a
# router that spreads client flows over them by ECMP (scripts/lab.sh up
# --nodes 3: bird2 on the router and on every node, BFD 100 ms x 3, an L4
# multipath hash). Every node runs sluiced (XDP on its eth0, announcing
# its VIP addresses in kernel table 100, `node set --announce-table 100`)
# and sluice-healthd with the same config. Checks:
#   (a) the router's route to the VIP has one next hop per node;
#   (b) new connections all succeed and spread over the nodes, and the
#       router's hash (ip route get ... sport P) says which node a flow
#       takes;
#   (c) ring digests are equal on every node, also after a backend is
#       added and a weight changed in different orders;
#   (d) node death, by its link going down and by its processes frozen
#       (SIGSTOP of bird and sluiced): 100 keep-alive sessions and a long
#       download held open by its reader lose nothing; failover times;
#   (e) `sluicectl node drain`: the router drops the node within 2 s, its
#       flows finish through the others, new ones avoid it; undrain;
#   (f) sluiced restarted on a node: the router keeps every path (sampled
#       every 50 ms) and no request fails;
#   (g) a VIP with every backend down on one node is withdrawn from that
#       node only.
# Hash-threshold ECMP moves flows between the surviving nodes too when a
# path goes; they keep their backend because the rings are identical.
#
# FLEET_ANNOUNCE=hand (for working on the lab itself, not CI): the VIP
# routes are put in table 100 by hand instead of by sluiced, and the
# checks that need sluiced's announcements (the drain command, (g), the
# routes across a restart) say they were not run.
#
# Its lab has a prefix of its own (slf<pid>-), beside any other. Every
# loop is bounded; the trap stops what it started by pid and takes the
# lab down.
set -euo pipefail

usage="usage: fleet.sh BUILD_DIR"
BUILD=${1:?$usage}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LAB=$REPO/scripts/lab.sh
ANNOUNCE=${FLEET_ANNOUNCE:-sluiced}
case $ANNOUNCE in
    sluiced|hand) ;;
    *) echo "fleet.sh: FLEET_ANNOUNCE '$ANNOUNCE': sluiced or hand" >&2; exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then
    echo "fleet.sh: skipped: needs root (namespaces, XDP)"
    exit 77
fi
for tool in nginx bird birdc; do
    if ! command -v $tool >/dev/null; then
        echo "fleet.sh: skipped: $tool not found (scripts/install-deps.sh installs it)"
        exit 77
    fi
done
export SLUICE_BUILD=$BUILD SLUICE_LAB_PREFIX=slf$$-
unset SLUICE_LAB_STATE SLUICE_LAB_PINS SLUICE_DECAP SLUICE_BIRD_CONF
NODES=3
eval "$("$LAB" env --nodes $NODES --backends 4)"
P=$LAB_PREFIX
STATE=$LAB_STATE
NS_RT=${P}rt
NS_CLIENT=${P}client
PY=/usr/bin/python3
FLOWS=$HERE/flows.py
TABLE=100
VIP=10.100.0.1
VIP2=10.100.0.2
V80=$VIP:80/tcp
V2=$VIP2:80/tcp
CLIENT=10.201.0.10
BES=(be1 be2 be3)                       # in the config; be4 joins in (c)
declare -A ADDR=([be1]=10.200.0.11 [be2]=10.200.0.12 [be3]=10.200.0.13 [be4]=10.200.0.14)
CHK="--check http --check-path /health --check-port 80 --check-interval 200ms --check-timeout 100ms --check-rise 2 --check-fall 2"
BIG_MB=5
SESSIONS=100

BG_PIDS=()
TMP=$(mktemp -d /tmp/sluice-fleet.XXXXXX)
# shellcheck source=../check.sh
. "$HERE/../check.sh"
START=$SECONDS

nx() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
node_ns() { echo "${P}lb$1"; }
node_addr() { echo "10.200.0.$((1 + $1))"; }
node_of() {   # node_of ADDR: 10.200.0.3 -> 2
    echo $(( ${1##*.} - 1 ))
}
ctl() {   # ctl I ARGS...
    local i=$1
    shift
    nx "$(node_ns "$i")" "$BUILD/controlplane/sluicectl" --socket "$STATE/lb$i/sluiced.sock" "$@"
}
pidfile() { echo "$STATE/pids/$1-lb$2"; }   # pidfile sluiced|sluice-healthd|bird I
pid_of() { cat "$(pidfile "$1" "$2")" 2>/dev/null || true; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

cleanup() {
    local p i
    set +e
    trap '' PIPE        # a reader gone (| head) must not stop the clean-up
    if [ "$failures" != 0 ]; then
        for i in $(seq $NODES); do
            for f in "$STATE/lb$i/sluiced.log" "$STATE/lb$i/healthd.log" "$STATE/bird/lb$i.log"; do
                [ -f "$f" ] && { echo "--- $f (last 15 lines)"; tail -n 15 "$f"; }
            done
        done
        [ -f "$STATE/bird/rt.log" ] && { echo "--- router bird (last 30 lines)"; tail -n 30 "$STATE/bird/rt.log"; }
    fi
    for p in "${BG_PIDS[@]}"; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    # lab.sh down stops sluiced, healthd and bird of every node by pid
    # (they are under its pids/), frozen ones included.
    "$LAB" down >/dev/null 2>&1 || echo "fleet.sh: warning: scripts/lab.sh down failed"
    rm -rf "$TMP"
}
trap cleanup EXIT

die() { echo "not ok - $*"; failures=$((failures + 1)); echo "fleet.sh: $failures check(s) failed"; exit 1; }
note() { echo "   $*"; }

# --- the router's view -----------------------------------------------------------

# paths ADDR: the next hops of the router's route to ADDR, sorted, one line.
paths() {
    ip -n "$NS_RT" -4 route show "$1/32" 2>/dev/null | grep -o 'via [0-9.]*' | awk '{print $2}' |
        sort | tr '\n' ' ' | sed 's/ $//'
}
npaths() { local p; p=$(paths "$1"); if [ -z "$p" ]; then echo 0; else wc -w <<< "$p"; fi; }
has_path() { paths "$1" | grep -qw "$2"; }   # has_path ADDR NEXTHOP

# wait_until MAXMS T0 COMMAND...: polls every 10 ms; prints the ms since
# T0 (now_ms) when COMMAND succeeded; fails after MAXMS.
wait_until() {
    local max=$1 t0=$2 el
    shift 2
    while :; do
        el=$(( $(now_ms) - t0 ))
        "$@" && { echo "$el"; return 0; }
        [ "$el" -gt "$max" ] && { echo "$el"; return 1; }
        sleep 0.01
    done
}
all_paths() { [ "$(npaths "$1")" = "$2" ]; }    # all_paths ADDR N
# stable_paths ADDR N SECS MAXS: N paths held SECS s in a row, within
# MAXS s. A node thawed after a freeze comes back, then its stale BFD
# session times out and takes its BGP session down once more.
stable_paths() {
    local since= t end=$(( $(now_ms) + $4 * 1000 ))
    while [ "$(now_ms)" -lt "$end" ]; do
        t=$(now_ms)
        if all_paths "$1" "$2"; then
            [ -n "$since" ] || since=$t
            [ $((t - since)) -ge $(( $3 * 1000 )) ] && return 0
        else
            since=
        fi
        sleep 0.05
    done
    return 1
}
no_path() { ! has_path "$1" "$2"; }

# port_map OUT: for local ports 30000-31199 of the client, the node the
# router's hash sends the flow to ("PORT NODE" lines): `ip route get`
# with the 5-tuple computes it as the forwarding path does.
port_map() {
    local p
    for p in $(seq 30000 31199); do
        echo "route get $VIP from $CLIENT iif eth1 ipproto tcp sport $p dport 80"
    done | ip -n "$NS_RT" -batch - 2>/dev/null |
        awk -v first=30000 '$1 == "'"$VIP"'" { for (i = 1; i < NF; i++) if ($i == "via") print first + n, $(i + 1); n++ }' |
        while read -r port via; do echo "$port $(node_of "$via")"; done > "$1"
}
ports_of() {   # ports_of MAP NODE COUNT SKIP: COUNT ports to NODE, comma separated
    awk -v n="$2" '$2 == n {print $1}' "$1" | tail -n +"$(( $4 + 1 ))" | head -n "$3" | paste -sd,
}

# --- nodes ------------------------------------------------------------------------

config() {   # config I: the same service on every node
    echo "node set --interface eth0 --encap-source $(node_addr "$1")$([ "$ANNOUNCE" = sluiced ] && echo " --announce-table $TABLE")"
    echo "vip add $V80 $CHK"
    echo "vip add $V2 $CHK"
    for be in "${BES[@]}"; do
        echo "backend add $V80 ${ADDR[$be]}"
        echo "backend add $V2 ${ADDR[$be]}"
    done
}

start_sluiced() {   # start_sluiced I: pid under the lab's pids/, until ready
    local i=$1 d=$STATE/lb$1 pid
    # nsenter itself, not a function, so that $! is the daemon.
    nsenter --net="/run/netns/$(node_ns "$i")" "$BUILD/controlplane/sluiced" --foreground \
        --config "$d/sluice.conf" --state "$d/sluiced.state" --socket "$d/sluiced.sock" \
        --state-fallback "$d/state.pending" --pin-root "$LAB_PINS/lb$i" \
        </dev/null >>"$d/sluiced.log" 2>&1 &
    pid=$!
    echo "$pid" > "$(pidfile sluiced "$i")"
    for _ in $(seq 200); do
        ready ctl "$i" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "sluiced on node $i did not come up:"; tail -n 20 "$d/sluiced.log"
    return 1
}

start_healthd() {   # start_healthd I
    local i=$1 d=$STATE/lb$1
    nsenter --net="/run/netns/$(node_ns "$i")" "$BUILD/healthd/sluice-healthd" --foreground \
        --socket "$d/sluiced.sock" --refresh 200 </dev/null >>"$d/healthd.log" 2>&1 &
    echo "$!" > "$(pidfile sluice-healthd "$i")"
}

stop_pid() {   # stop_pid PID: TERM, wait up to 5 s
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

hand_routes() {   # hand_routes I add|del ADDR...: what the announcer would do
    local i=$1 op=$2 a
    shift 2
    for a in "$@"; do
        nx "$(node_ns "$i")" ip route "$op" blackhole "$a/32" table $TABLE proto 200
    done
}

all_healthy() {   # all_healthy I VIP
    ctl "$1" --json backend list "$2" | "$PY" -c '
import json, sys
b = json.load(sys.stdin)["backends"]
sys.exit(0 if b and all(x["health"] == "up" for x in b) else 1)'
}
fleet_healthy() {   # fleet_healthy VIP: on every node
    local i
    for i in $(seq $NODES); do all_healthy "$i" "$1" || return 1; done
}

new_flows() {   # new_flows I: the VIP's fast-path counter on node I
    ctl "$1" --json stats --vip "$V80" | "$PY" -c '
import json, sys
print(sum(v["new_flows"] for v in json.load(sys.stdin)["vips"]))'
}
flows_all() {   # flows_all: "N1 N2 N3"
    local i out=
    for i in $(seq $NODES); do out="$out $(new_flows "$i")"; done
    echo "${out# }"
}

get() { nx "$NS_CLIENT" curl -s --max-time 3 "$@" "http://$VIP/" || echo FAIL; }
requests() {   # requests N OUT [CURL ARGS]: sequential, one answer a line
    local n=$1 out=$2
    shift 2
    : > "$out"
    for _ in $(seq "$n"); do get "$@" >> "$out"; done
}
n_ok() { grep -c '^be[1-4]$' "$1" || true; }

# --- the lab ------------------------------------------------------------------------
"$LAB" up --nodes $NODES --backends 4 > "$TMP/lab.log" 2>&1 || { cat "$TMP/lab.log"; die "scripts/lab.sh up --nodes $NODES"; }
echo "ok - scripts/lab.sh up --nodes $NODES --backends 4 ($(grep -o 'BGP.*' "$TMP/lab.log"))"

# Test-time additions to every backend: VIP2 on lo with nginx on it, a
# ~5 MB file for the long download.
for be in be1 be2 be3 be4; do
    dir=$STATE/$be
    ip -n "$P$be" addr add "$VIP2/32" dev lo
    head -c $((BIG_MB * 1024 * 1024)) /dev/urandom > "$dir/big.bin"
    sed -i -e "s|^\(\s*\)listen $VIP:80;.*|&\n\1listen $VIP2:80;\n\1location = /big.bin { root $dir; }|" \
        "$dir/nginx.conf"
    nx "$P$be" nginx -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
        || die "$be: the fleet nginx config is refused"
    kill -HUP "$(cat "$STATE/pids/nginx-$be")"
done
reloaded() {
    local be
    for be in be1 be2 be3 be4; do
        [ "$(nx "$P$be" curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
            "http://${ADDR[$be]}/big.bin")" = 200 ] || return 1
    done
}
check "nginx reloaded with the fleet additions (big.bin, $VIP2)" eventually 5 reloaded

# --- sluiced and sluice-healthd on every node -------------------------------------
for i in $(seq $NODES); do
    config "$i" > "$STATE/lb$i/sluice.conf"
    start_sluiced "$i" || die "sluiced starts on node $i"
    start_healthd "$i"
done
echo "ok - sluiced and sluice-healthd run on nodes 1-$NODES (XDP on eth0)"
check "every node sees every backend of $V80 up" eventually 10 fleet_healthy "$V80"
check "every node sees every backend of $V2 up" eventually 10 fleet_healthy "$V2"
if [ "$ANNOUNCE" = hand ]; then
    for i in $(seq $NODES); do hand_routes "$i" add "$VIP" "$VIP2"; done
    note "FLEET_ANNOUNCE=hand: $VIP and $VIP2 put in table $TABLE of every node by hand"
fi

# --- (a) one path per node ----------------------------------------------------------
t=$(wait_until 10000 "$(now_ms)" all_paths "$VIP" $NODES) || true
check "(a) the router's route to $VIP has $NODES next hops ($(paths "$VIP"), in $t ms)" all_paths "$VIP" $NODES
check "(a) ... through nodes 10.200.0.2-4" test "$(paths "$VIP")" = "10.200.0.2 10.200.0.3 10.200.0.4"
ip -n "$NS_RT" -4 route show "$VIP/32" | sed 's/^/   router: /'
check "(a) the router's route to $VIP2 has $NODES next hops ($(paths "$VIP2"))" \
    eventually 10 all_paths "$VIP2" $NODES
if [ "$ANNOUNCE" = sluiced ]; then
    for i in $(seq $NODES); do
        check "(a) node $i keeps $VIP in table $TABLE, protocol 200" \
            eval "ip -n $(node_ns "$i") -4 route show table $TABLE proto 200 | grep -q '$VIP '"
    done
    nx "$(node_ns 1)" curl -s --max-time 2 http://127.0.0.1:9109/metrics > "$TMP/metrics.txt" || true
    check "(a) /metrics: sluice_announced_addresses 2 ($(awk '$1 == "sluice_announced_addresses" {print $2}' "$TMP/metrics.txt"))" \
        test "$(awk '$1 == "sluice_announced_addresses" {print $2}' "$TMP/metrics.txt")" = 2
    check "(a) /metrics: sluice_vip_ring_info names $V80 with its digest" \
        grep -q "^sluice_vip_ring_info{vip=\"$V80\",digest=\"$(ctl 1 --json ring digest "$V80" |
            "$PY" -c 'import json,sys; print(json.load(sys.stdin)["digest"])')\"" "$TMP/metrics.txt"
fi

# --- (b) spread -----------------------------------------------------------------------
read -r -a f0 <<< "$(flows_all)"
requests 100 "$TMP/spread.txt"
read -r -a f1 <<< "$(flows_all)"
d=() sum=0
for i in 0 1 2; do d[i]=$(( f1[i] - f0[i] )); sum=$((sum + d[i])); done
check "(b) 100 new connections through $VIP all succeed ($(n_ok "$TMP/spread.txt"); $(sort "$TMP/spread.txt" | uniq -c | tr -s ' \n' ' '))" \
    test "$(n_ok "$TMP/spread.txt")" = 100
check "(b) they spread over the nodes: new flows ${d[0]} / ${d[1]} / ${d[2]} (each >= 10, sum $sum >= 100)" \
    test "${d[0]}" -ge 10 -a "${d[1]}" -ge 10 -a "${d[2]}" -ge 10 -a "$sum" -ge 100
port_map "$TMP/ports"
check "(b) the router's hash maps client ports to all $NODES nodes ($(awk '{print $2}' "$TMP/ports" | sort | uniq -c | tr -s ' \n' ' '))" \
    test "$(awk '{print $2}' "$TMP/ports" | sort -u | wc -l)" = $NODES
# The hash as `ip route get` tells it is the one the flows take: 4
# connections from ports the router sends to node i reach node i only.
for i in $(seq $NODES); do
    read -r -a f0 <<< "$(flows_all)"
    for p in $(ports_of "$TMP/ports" "$i" 4 0 | tr , ' '); do get --local-port "$p" >> "$TMP/pinned.txt"; done
    read -r -a f1 <<< "$(flows_all)"
    got="$(( f1[0] - f0[0] )) $(( f1[1] - f0[1] )) $(( f1[2] - f0[2] ))"
    want=$(for j in $(seq $NODES); do [ "$j" = "$i" ] && echo -n "4 " || echo -n "0 "; done)
    check "(b) 4 connections hashed to node $i arrive there (new flows $got)" test "$got " = "$want"
done

# --- (c) identical rings ----------------------------------------------------------------
digest() {   # digest I VIP
    ctl "$1" --json ring digest "$2" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["digest"])'
}
digests() { local i o=; for i in $(seq $NODES); do o="$o $(digest "$i" "$V80")"; done; echo "${o# }"; }
same() { [ "$(digests | tr ' ' '\n' | sort -u | wc -l)" = 1 ]; }
dg0=$(digests)
check "(c) ring digests of $V80 are equal on every node ($dg0)" same
B4=${ADDR[be4]}
B1=${ADDR[be1]}
# Node 1: add, then weight; node 2: weight, then add; node 3: both in
# one apply of its config file.
ctl 1 backend add "$V80" "$B4" >/dev/null
ctl 1 backend set "$V80" "$B1" --weight 200 >/dev/null
ctl 2 backend set "$V80" "$B1" --weight 200 >/dev/null
ctl 2 backend add "$V80" "$B4" >/dev/null
sed -e "s|^backend add $V80 $B1\$|& --weight 200|" "$STATE/lb3/sluice.conf" > "$TMP/lb3.conf"
echo "backend add $V80 $B4" >> "$TMP/lb3.conf"
cp "$TMP/lb3.conf" "$STATE/lb3/sluice.conf"
check "(c) node 3 applies be4 and the weight from its config file" ctl 3 reload >/dev/null
changed() { fleet_healthy "$V80" && same && [ "$(digest 1 "$V80")" != "${dg0%% *}" ]; }
check "(c) after be4 joined and be1's weight changed, in three orders, the digests are equal again and new ($(eventually 10 changed; digests))" \
    changed
four() {
    local i
    for i in $(seq $NODES); do
        [ "$(ctl "$i" --json backend list "$V80" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["backends"]))')" = 4 ] || return 1
    done
}
check "(c) every node has 4 backends in $V80" four

# --- (d) node death ---------------------------------------------------------------------

# hold_start NAME: SESSIONS keep-alive sessions in the background, their
# local ports in TMP/NAME.ports once open.
hold_start() {
    local name=$1 line=
    rm -f "$TMP/$name.stop"
    nx "$NS_CLIENT" "$PY" "$FLOWS" hold "$VIP" --sessions $SESSIONS --stop "$TMP/$name.stop" \
        --max 60 --interval 0.1 --timeout 10 > "$TMP/$name.out" 2> "$TMP/$name.err" &
    HOLD_PID=$!
    BG_PIDS+=("$HOLD_PID")
    for _ in $(seq 100); do
        line=$(grep '^ready' "$TMP/$name.out" || true)
        [ -n "$line" ] && break
        kill -0 "$HOLD_PID" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$line" ] || { cat "$TMP/$name.err"; return 1; }
    echo "${line#ready }" | tr ' ' '\n' > "$TMP/$name.ports"
}
hold_stop() {   # hold_stop NAME: sets SUMMARY (not in a subshell: it waits for its child)
    touch "$TMP/$1.stop"
    wait "$HOLD_PID" 2>/dev/null || true
    SUMMARY=$(grep '^{' "$TMP/$1.out" || echo '{}')
}
hold_field() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2]))' "$1" "$2"; }
on_node() {   # on_node PORTS_FILE NODE: how many of the ports the router sends to NODE
    local n=0 p
    while read -r p; do
        echo "route get $VIP from $CLIENT iif eth1 ipproto tcp sport $p dport 80"
    done < "$1" | ip -n "$NS_RT" -batch - 2>/dev/null | grep -c "via $(node_addr "$2") " || true
}

# big_start PORT: the long download from local PORT, held open by its
# reader until TMP/go exists (as tests/e2e/e2e.sh does).
big_start() {
    rm -f "$TMP/go" "$TMP/big.out" "$TMP/big.res"
    nx "$NS_CLIENT" curl -s --max-time 60 --local-port "$1" -o - \
            -w '%{stderr}%{http_code} %{size_download}\n' "http://$VIP/big.bin" 2> "$TMP/big.res" |
        { for _ in $(seq 1200); do [ -e "$TMP/go" ] && break; sleep 0.05; done
          cat > "$TMP/big.out"; } &
    BIG_PID=$!
    BG_PIDS+=("$BIG_PID")
}
big_serving() {   # prints the backend with the client's download
    local be
    for be in be1 be2 be3 be4; do
        if nx "$P$be" ss -Htn state established "( sport = :80 )" dst "$CLIENT" | grep -q "$CLIENT:$BIG_PORT"; then
            echo "$be"; return 0
        fi
    done
    return 1
}
big_finish() {   # big_finish: lets the reader go; checks the whole file came
    local be=$1
    touch "$TMP/go"
    wait "$BIG_PID" || true
    check "$2: the long download completed in full ($(cat "$TMP/big.res"), want 200 $((BIG_MB * 1024 * 1024)))" \
        test "$(cat "$TMP/big.res")" = "200 $((BIG_MB * 1024 * 1024))"
    check "$2: ... and is the file $be serves" cmp -s "$TMP/big.out" "$STATE/$be/big.bin"
}

probe_start() {   # probe_start PORTS: new connections from PORTS in turn
    rm -f "$TMP/probe.stop"
    nx "$NS_CLIENT" "$PY" "$FLOWS" probe "$VIP" --ports "$1" --stop "$TMP/probe.stop" \
        --max 30 --timeout 0.1 --interval 0.02 > "$TMP/probe.out" 2>&1 &
    PROBE_PID=$!
    BG_PIDS+=("$PROBE_PID")
}
probe_stop() {
    touch "$TMP/probe.stop"
    wait "$PROBE_PID" 2>/dev/null || true
}
# probe_first_ok T0: ms from T0 to the start of the first attempt that
# succeeded after the failures that followed T0 (an attempt started just
# after T0 may still have made it before the failure took effect).
probe_first_ok() {
    awk -v t0="$1" '$1 >= t0 { if ($3 == "fail") { last = $1; ok = "" } else if (ok == "") ok = $1 }
        END { if (ok != "") print ok - t0 }' "$TMP/probe.out"
}
probe_failed() {   # probe_failed T0: attempts started after T0 that failed
    awk -v t0="$1" '$1 >= t0 && $3 == "fail" {n++} END {print n + 0}' "$TMP/probe.out"
}

# node_death NODE HOW LABEL: HOW is "link" or "freeze". Prints figures.
node_death() {
    local n=$1 how=$2 label=$3 victim summary t0 t_route t_new p_fail be i
    victim=$(node_addr "$n")
    port_map "$TMP/ports"
    hold_start "hold-$n" || die "$label: $SESSIONS keep-alive sessions open"
    note "$label: $(on_node "$TMP/hold-$n.ports" "$n") of the $SESSIONS sessions go through node $n"
    # A download and the probes from ports the router sends to node n.
    BIG_PORT=$(ports_of "$TMP/ports" "$n" 1 100)
    big_start "$BIG_PORT"
    be=
    for _ in $(seq 100); do be=$(big_serving) && break; sleep 0.05; done
    check "$label: the long download (port $BIG_PORT, via node $n) is held open by ${be:-nobody}" test -n "$be"
    probe_start "$(ports_of "$TMP/ports" "$n" 60 200)"
    sleep 0.5
    t0=$(now_ms)
    if [ "$how" = link ]; then
        ip -n "$(node_ns "$n")" link set eth0 down
    else
        kill -STOP "$(pid_of bird "$n")" "$(pid_of sluiced "$n")"
    fi
    t_route=$(wait_until 5000 "$t0" no_path "$VIP" "$victim") || true
    sleep 1.5                       # the sessions go on through the others
    check "$label: the router drops node $n within 2 s (${t_route} ms; now $(paths "$VIP"))" \
        test "$t_route" -le 2000 -a "$(npaths "$VIP")" = $((NODES - 1))
    probe_stop
    t_new=$(probe_first_ok "$t0")
    p_fail=$(probe_failed "$t0")
    check "$label: new connections that hashed to node $n succeed again after ${t_new:-never} ms ($p_fail attempts of 100 ms failed before)" \
        test -n "$t_new"
    hold_stop "hold-$n"
    summary=$SUMMARY
    note "$label: sessions $summary"
    check "$label: $SESSIONS keep-alive sessions, 0 broken ($(hold_field "$summary" broken) broken, $(hold_field "$summary" requests) requests, slowest round $(hold_field "$summary" slowest_round_ms) ms)" \
        test "$(hold_field "$summary" broken)" = 0 -a "$(hold_field "$summary" requests)" -ge $((SESSIONS * 5))
    [ -n "$be" ] && big_finish "$be" "$label"
    # Frozen, the node's XDP still forwards: its new connections do not
    # wait for the route to move.
    echo "   FAILOVER $label: route withdrawn ${t_route} ms after the failure, first new connection ${t_new:-never} ms ($p_fail failed attempts)"
    # Back to whole: the node returns and announces again.
    if [ "$how" = link ]; then
        ip -n "$(node_ns "$n")" link set eth0 up
    else
        kill -CONT "$(pid_of bird "$n")" "$(pid_of sluiced "$n")"
    fi
    t0=$(now_ms)
    t=$(wait_until 30000 "$t0" all_paths "$VIP" $NODES) || true
    check "$label: node $n is back in the router's route after $t ms" all_paths "$VIP" $NODES
    check "$label: ... and the route stays whole for 3 s (within 30 s)" stable_paths "$VIP" $NODES 3 30
    for i in $(seq $NODES); do eventually 10 all_healthy "$i" "$V80" || true; done
    check "$label: every node healthy and the rings equal again ($(digests))" eventually 10 same
}
node_death 2 link "(d) node 2 link down"
node_death 3 freeze "(d) node 3 frozen"

# --- (e) drain --------------------------------------------------------------------------
port_map "$TMP/ports"
hold_start hold-drain || die "(e): $SESSIONS keep-alive sessions open"
note "(e): $(on_node "$TMP/hold-drain.ports" 1) of the $SESSIONS sessions go through node 1"
BIG_PORT=$(ports_of "$TMP/ports" 1 1 150)
big_start "$BIG_PORT"
be=
for _ in $(seq 100); do be=$(big_serving) && break; sleep 0.05; done
check "(e) the long download (via node 1) is held open by ${be:-nobody}" test -n "$be"
t0=$(now_ms)
if [ "$ANNOUNCE" = sluiced ]; then
    ctl 1 node drain >/dev/null
    what="sluicectl node drain"
else
    hand_routes 1 del "$VIP" "$VIP2"
    what="(hand: routes deleted from table $TABLE)"
fi
t=$(wait_until 5000 "$t0" no_path "$VIP" "$(node_addr 1)") || true
check "(e) $what on node 1: the router drops it in $t ms (<= 2000; now $(paths "$VIP"))" test "$t" -le 2000
echo "   DRAIN: node 1 withdrawn ${t} ms after $what"
read -r -a f0 <<< "$(flows_all)"
requests 30 "$TMP/drain.txt"
read -r -a f1 <<< "$(flows_all)"
check "(e) 30 new connections during the drain succeed ($(n_ok "$TMP/drain.txt"))" test "$(n_ok "$TMP/drain.txt")" = 30
check "(e) none of them went through node 1 (new flows $(( f1[0] - f0[0] )) / $(( f1[1] - f0[1] )) / $(( f1[2] - f0[2] )))" \
    test $(( f1[0] - f0[0] )) = 0
hold_stop hold-drain
summary=$SUMMARY
check "(e) the $SESSIONS existing sessions went on, 0 broken ($(hold_field "$summary" broken) broken, $(hold_field "$summary" requests) requests)" \
    test "$(hold_field "$summary" broken)" = 0
[ -n "$be" ] && big_finish "$be" "(e)"
if [ "$ANNOUNCE" = sluiced ]; then
    ctl 1 node undrain >/dev/null
else
    hand_routes 1 add "$VIP" "$VIP2"
fi
t=$(wait_until 10000 "$(now_ms)" all_paths "$VIP" $NODES) || true
check "(e) undrain: node 1 is back in the route after $t ms ($(paths "$VIP"))" all_paths "$VIP" $NODES

# --- (f) sluiced restart -----------------------------------------------------------------
(
    for _ in $(seq 400); do
        [ -e "$TMP/sample.stop" ] && break
        echo "$(date +%s%3N) $(npaths "$VIP") $(paths "$VIP")"
        sleep 0.05
    done
) > "$TMP/samples.txt" &
SAMPLER=$!
BG_PIDS+=("$SAMPLER")
(
    for _ in $(seq 100); do get >> "$TMP/restart.txt"; sleep 0.02; done
) &
LOOP=$!
BG_PIDS+=("$LOOP")
sleep 0.5
stop_pid "$(pid_of sluiced 2)"
sleep 0.3
check "(f) sluiced restarts on node 2" start_sluiced 2
wait "$LOOP" || true
touch "$TMP/sample.stop"
wait "$SAMPLER" || true
n=$(wc -l < "$TMP/samples.txt")
bad=$(awk -v n=$NODES '$2 != n' "$TMP/samples.txt" | wc -l)
[ "$bad" = 0 ] || note "(f) short samples (ms, paths): $(awk -v n=$NODES '$2 != n {print $1 % 100000, $3, $4}' "$TMP/samples.txt" | head -5 | paste -sd';')"
if [ "$ANNOUNCE" = sluiced ]; then
    check "(f) the router kept all $NODES paths across the restart ($n samples 50 ms apart, $bad short)" \
        test "$n" -ge 20 -a "$bad" = 0
else
    note "(f) not run: the routes across a restart are sluiced's (FLEET_ANNOUNCE=hand; $n samples, $bad short)"
fi
check "(f) 100 requests across the restart all succeed ($(n_ok "$TMP/restart.txt")/$(wc -l < "$TMP/restart.txt"))" \
    test "$(n_ok "$TMP/restart.txt")" = 100

# --- (g) a VIP down on one node only ------------------------------------------------------
if [ "$ANNOUNCE" = sluiced ]; then
    for be in "${BES[@]}"; do
        ctl 3 health set "$V2" "${ADDR[$be]}" down --for 5m --reason "fleet test (g)" >/dev/null
    done
    t=$(wait_until 5000 "$(now_ms)" no_path "$VIP2" "$(node_addr 3)") || true
    check "(g) every backend of $V2 down on node 3: node 3 withdraws $VIP2 ($t ms; now $(paths "$VIP2"))" \
        test "$(paths "$VIP2")" = "10.200.0.2 10.200.0.3"
    check "(g) ... and keeps $VIP ($(paths "$VIP"))" all_paths "$VIP" $NODES
    check "(g) ... nodes 1 and 2 keep $VIP2 in table $TABLE" \
        eval "ip -n $(node_ns 1) route show table $TABLE | grep -q '$VIP2 ' && ip -n $(node_ns 2) route show table $TABLE | grep -q '$VIP2 '"
    : > "$TMP/v2.txt"
    for _ in $(seq 20); do nx "$NS_CLIENT" curl -s --max-time 3 "http://$VIP2/" >> "$TMP/v2.txt" || echo FAIL >> "$TMP/v2.txt"; done
    check "(g) 20 requests to $VIP2 succeed through nodes 1 and 2 ($(n_ok "$TMP/v2.txt"))" test "$(n_ok "$TMP/v2.txt")" = 20
    for be in "${BES[@]}"; do ctl 3 health clear "$V2" "${ADDR[$be]}" >/dev/null; done
    t=$(wait_until 10000 "$(now_ms)" all_paths "$VIP2" $NODES) || true
    check "(g) health cleared: node 3 announces $VIP2 again ($t ms)" all_paths "$VIP2" $NODES
else
    note "(g) not run: withdrawing a VIP with no backend up is sluiced's (FLEET_ANNOUNCE=hand)"
fi

echo "fleet.sh: $((SECONDS - START)) s"
echo "fleet.sh: $failures check(s) failed"
[ "$failures" = 0 ]
