#!/bin/bash
# lab.sh - the Sluice netns lab: a client, a balancer and three nginx
# backends on one Linux bridge, wired for direct server return.
#
#   sl-client  eth0 10.200.0.10/24, 10.100.0.0/24 via 10.200.0.2
#   sl-lb      eth0 10.200.0.2/24, ip_forward=1 (sluiced attaches here)
#   sl-be1..3  eth0 10.200.0.11-13/24, VIP 10.100.0.1/32 on lo, decap XDP
#              on eth0 (decap address = own address), nginx on VIP:80 and
#              own-address:80 (for health checks)
#   sl-sw      bridge br0 with the peers sw-client, sw-lb, sw-be1..3
#
# `up --nodes N` (N >= 2) builds a fleet instead: N balancers announce
# the VIP over BGP to a router, which spreads client flows over them by
# ECMP (an L4 hash), as an edge router in front of several Sluice nodes
# does.
#
#   sl-client  eth0 10.201.0.10/24, default via 10.201.0.1 (its own subnet)
#   sl-rt      eth1 10.201.0.1/24 (to the client), eth0 10.200.0.1/24 on
#              the bridge; ip_forward=1, an L4 multipath hash;
#              bird2 (scripts/bird/router.conf, AS 65000): one eBGP
#              session per node, BFD 100 ms x 3, merge paths on, the
#              multipath route exported to the kernel's main table
#   sl-lb1..N  eth0 10.200.0.2..N+1/24, ip_forward=1 (sluiced attaches
#              here); bird2 (scripts/bird/node.conf, AS 65000+i) learns
#              the routes of kernel table 100 with rtm_protocol 200 (what
#              `sluicectl node set --announce-table 100` keeps there) and
#              exports them to the router, next hop self, with BFD
#   sl-be1..M  as above (M = --backends, default 3), default route via
#              10.200.0.1 so that they answer the client directly (DSR:
#              the client's address is kept end to end)
#   sl-sw      bridge br0 with sw-rt, sw-lb1..N, sw-be1..M
#
# The VIP routes of the nodes are sluiced's to write; until it does, put
# one in by hand: scripts/lab.sh node-exec 1 ip route add blackhole
# 10.100.0.1 table 100 proto 200. N = 1 (the default) is the lab above,
# unchanged.
#
# "sl-" is the default prefix of the namespace names (SLUICE_LAB_PREFIX).
# Labs with different prefixes run side by side: everything a lab owns
# outside its namespaces (state dir, bpffs pins, bird's sockets) is named
# after its prefix too, and nothing of it sits in the root namespace (no
# bridge, no veth), so a test lab can run beside the demo's.
#
# The bridge has a namespace of its own so that the balancer's namespace
# looks like a real balancer host (one NIC, no bridge, no bridge netfilter
# in its path) and the "switch" can be inspected on its own
# (tcpdump -i sw-lb in sl-sw sees exactly what the balancer puts on the
# wire).
#
# Everything started is tracked under the state dir (pids, pins) and
# removed by `down`. The script does not start sluiced; see --help.
set -euo pipefail
# The daemons started here (nginx, bird) outlive this script: they must not
# inherit its caller's descriptors, such as the test lock's that
# flock(1) holds open for its command, or the lock stays taken as long
# as the lab is up.
for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ] && [ "$fd" != 255 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
BUILD=${SLUICE_BUILD:-$REPO/build}
PREFIX=${SLUICE_LAB_PREFIX:-sl-}
case $PREFIX in
    ''|*[!a-z0-9-]*) echo "lab: SLUICE_LAB_PREFIX '$PREFIX': use a-z, 0-9 and -" >&2; exit 2 ;;
esac
[ ${#PREFIX} -le 16 ] || { echo "lab: SLUICE_LAB_PREFIX '$PREFIX': 16 characters at most" >&2; exit 2; }
# The default lab keeps the historical paths; another prefix gets its own.
if [ "$PREFIX" = sl- ]; then OWN=; else OWN=-${PREFIX%-}; fi
STATE=${SLUICE_LAB_STATE:-/run/sluice-lab$OWN}
PIN_ROOT=${SLUICE_LAB_PINS:-/sys/fs/bpf/sluice-lab$OWN}
DECAP=${SLUICE_DECAP:-$BUILD/xdp/sluice-decap}
DPDK_RUN=$STATE/dpdk-run

NET=10.200.0
VIP=10.100.0.1
VIP_NET=10.100.0.0/24
LB_ADDR=$NET.2
CLIENT_ADDR=$NET.10
NS_SW=${PREFIX}sw
NS_CLIENT=${PREFIX}client
NS_LB=${PREFIX}lb
# The fleet (--nodes N >= 2): the client on a subnet of its own behind
# the router, the nodes at $NET.2..N+1.
CNET=10.201.0
FLEET_CLIENT_ADDR=$CNET.10
RT_ADDR=$NET.1
RT_CADDR=$CNET.1
RT_AS=65000
ANNOUNCE_TABLE=100      # sluiced's routes: `node set --announce-table`
ANNOUNCE_PROTO=200      # their rtm_protocol, what bird learns
NS_RT=${PREFIX}rt
BIRD_DIR=$STATE/bird
BIRD_CONF=${SLUICE_BIRD_CONF:-$HERE/bird}

# The topology: `up` takes it from --nodes/--backends and keeps it in the
# state dir, every other command reads it back (the single lab without).
NODES=1
NBACK=3
if [ -s "$STATE/topology" ]; then
    NODES=$(sed -n 's/^nodes=//p' "$STATE/topology")
    NBACK=$(sed -n 's/^backends=//p' "$STATE/topology")
fi
set_topology() {
    local i
    BACKENDS=()
    for i in $(seq "$NBACK"); do BACKENDS+=("be$i"); done
    NODE_NS=()
    if [ "$NODES" = 1 ]; then
        NAMESPACES=("$NS_SW" "$NS_CLIENT" "$NS_LB" "${BACKENDS[@]/#/$PREFIX}")
        return
    fi
    for i in $(seq "$NODES"); do NODE_NS+=("${PREFIX}lb$i"); done
    NAMESPACES=("$NS_SW" "$NS_CLIENT" "$NS_RT" "${NODE_NS[@]}" "${BACKENDS[@]/#/$PREFIX}")
}
set_topology
node_addr() { echo "$NET.$((1 + $1))"; }   # node_addr I

usage() {
    cat <<EOF
usage: scripts/lab.sh up [--nodes N] [--backends M] | down | status | env |
                      run-nginx BE | lb-exec CMD... | node-exec I CMD... |
                      rt-exec CMD... | birdc rt|I CMD... | --help

up      create the lab (idempotent: says "already up" when it is, with
        the same topology). --nodes N (1-8, default 1): N >= 2 builds the
        fleet (a router, N balancers announcing over BGP, see below) and
        waits for its BGP and BFD sessions; --backends M (1-9, default 3)
        nginx backends
down    stop the lab's processes (nginx, bird, what else is tracked, by
        pid), remove its XDP pins, namespaces and state
status  print what is up; exit 0 when the whole lab is up, 3 otherwise
env     print LAB_PREFIX, LAB_STATE, LAB_PINS, LAB_DPDK_RUN, LAB_NODES and
        LAB_BACKENDS as shell assignments (for scripts that drive the
        lab: eval "\$(scripts/lab.sh env)"); before up, --nodes N says
        which topology to describe
lb-exec CMD [ARG...]
        exec CMD in the balancer's namespace with the lab's own
        /var/run/dpdk ($DPDK_RUN), so that a DPDK process's EAL run
        directory (sluice-dpdk's default --file-prefix is fixed) cannot meet
        another lab's or the host's. In the background, \$! is CMD's pid.
        In a fleet: node 1.
node-exec I CMD [ARG...]
        the same in node I's namespace (${PREFIX}lbI; the single lab's
        balancer is node 1), with a run directory of its own per node
rt-exec CMD [ARG...]
        exec CMD in the fleet's router namespace ($NS_RT)
birdc rt|I CMD...
        birdc on the router's or node I's bird (e.g. birdc rt show route)

Namespaces (single lab): ${PREFIX}sw ${PREFIX}client ${PREFIX}lb ${PREFIX}be1..3 (bridge br0 in $NS_SW).
  client  $CLIENT_ADDR    route $VIP_NET via $LB_ADDR
  lb      $LB_ADDR     eth0, ip_forward=1
  be1..M  $NET.11-..  VIP $VIP/32 on lo, decap XDP on eth0, nginx
Fleet (--nodes N): ${PREFIX}sw ${PREFIX}client ${PREFIX}rt ${PREFIX}lb1..N ${PREFIX}be1..M
  client  $FLEET_CLIENT_ADDR   default via $RT_CADDR
  rt      $RT_CADDR (client side), $RT_ADDR (bridge); bird2 AS $RT_AS, one
          eBGP session per node, BFD 100 ms x 3, ECMP (merge paths on,
          fib_multipath_hash_policy=3 over the 5-tuple)
  lbI     $NET.(I+1)  eth0, ip_forward=1; bird2 AS $((RT_AS))+I announces the
          routes of kernel table $ANNOUNCE_TABLE with protocol $ANNOUNCE_PROTO (sluiced's
          node set --announce-table $ANNOUNCE_TABLE; by hand: node-exec I ip route add
          blackhole $VIP table $ANNOUNCE_TABLE proto $ANNOUNCE_PROTO)
  be1..M  as above, default via $RT_ADDR
  bird configs: scripts/bird/router.conf and node.conf filled in under
  $BIRD_DIR (with its sockets, pid files and logs).
State (pids, nginx configs and logs): $STATE; pins: $PIN_ROOT.
Needs root, nginx (Debian package nginx-light or nginx), ethtool,
bird2 for a fleet, and $DECAP (ninja -C build). Environment:
SLUICE_LAB_PREFIX (default sl-; it names the namespaces, and any other
prefix P- also moves the default state and pins to /run/sluice-lab-P and
/sys/fs/bpf/sluice-lab-P), SLUICE_BUILD, SLUICE_LAB_STATE,
SLUICE_LAB_PINS, SLUICE_DECAP, SLUICE_BIRD_CONF (the templates' dir),
LAB_LB_CPU (the CPU of the balancer's NAPI thread; node I gets the
(I-1)th CPU after it).

Run sluiced on the balancer (nsenter, not 'ip netns exec', which remounts
/sys and hides the bpffs):
  cat > $STATE/sluice.conf <<CONF
  node set --interface eth0 --encap-source $LB_ADDR
  vip add $VIP:80/tcp
  backend add $VIP:80/tcp $NET.11
  backend add $VIP:80/tcp $NET.12
  backend add $VIP:80/tcp $NET.13
  CONF
  nsenter --net=/run/netns/$NS_LB $BUILD/controlplane/sluiced --foreground \\
      --config $STATE/sluice.conf --state $STATE/sluiced.state \\
      --socket $STATE/sluiced.sock --pin-root $PIN_ROOT/lb \\
      </dev/null >>$STATE/sluiced.log 2>&1 &
  echo \$! > $STATE/pids/sluiced        # so that 'down' stops it too
  nsenter --net=/run/netns/$NS_CLIENT curl -s http://$VIP/
In a fleet the same per node, each with its own files (node I:
$STATE/lbI/, pins $PIN_ROOT/lbI, pids/sluiced-lbI) and
--encap-source $NET.(I+1); scripts/demo.sh --nodes 3 does it all.
EOF
}

say() { echo "lab: $*"; }
die() { echo "lab: $*" >&2; exit 1; }
nx() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
ns_exists() { [ -e "/run/netns/$1" ]; }
be_addr() { echo "$NET.$((10 + ${1#be}))"; }
mac_of() { printf '02:5c:00:00:00:%02x' "$1"; }

pid_alive() {   # pid_alive PIDFILE COMM
    local pid
    [ -s "$1" ] || return 1
    pid=$(cat "$1")
    [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

# --- up -----------------------------------------------------------------

check_tools() {
    [ "$(id -u)" = 0 ] || die "needs root (namespaces, XDP)"
    command -v nginx >/dev/null || die "nginx not found: apt-get install nginx-light"
    command -v ethtool >/dev/null || die "ethtool not found: apt-get install ethtool"
    [ -x "$DECAP" ] || die "$DECAP missing: ninja -C $BUILD"
    if ! mountpoint -q /sys/fs/bpf; then
        mount -t bpf bpf /sys/fs/bpf
    fi
}

# connect NODE NS MACBYTE: veth eth0 in NS, peer sw-NODE on br0 in the
# switch's namespace (created there: the root namespace never sees it).
connect() {
    local node=$1 ns=$2 mac=$3
    ip -n "$NS_SW" link add "sw-$node" type veth peer name eth0 netns "$ns"
    ip -n "$ns" link set eth0 address "$(mac_of "$mac")"
    ip -n "$NS_SW" link set "sw-$node" master br0 up
    ip -n "$ns" link set eth0 up
    # Partial TX checksums break once the frame crosses an XDP program
    # (docs/architecture.md, "The lab"); every lab sender talks to an XDP interface (client->lb,
    # lb->backends, backends->lb for health checks), so all are off.
    nx "$ns" ethtool -K eth0 tx off >/dev/null
}

nginx_conf() {   # nginx_conf NAME ADDR DIR
    local name=$1 addr=$2 dir=$3
    cat > "$dir/nginx.conf" <<EOF
# generated by scripts/lab.sh for $name
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type text/plain;
    keepalive_timeout 30s;
    server {
        listen $VIP:80;     # DSR: the VIP on lo
        listen $addr:80;    # direct, for health checks
        server_name _;
        location = /health { return 200 "ok\n"; }
        location / { return 200 "$name\n"; }
    }
}
EOF
}

start_nginx() {   # start_nginx NAME: writes the lab's config, then runs nginx
    local name=$1 ns=$PREFIX$1 dir=$STATE/$1
    mkdir -p "$dir/tmp"
    nginx_conf "$name" "$(be_addr "$name")" "$dir"
    nx "$ns" nginx -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
        || die "$name: nginx config rejected (see $dir/error.log)"
    run_nginx "$name"
}

# run_nginx NAME: nginx of backend NAME with the config already in its
# state dir (tests may have added to it), pid tracked for `down`.
run_nginx() {
    local name=$1 ns=$PREFIX$1 dir=$STATE/$1 pid
    rm -f "$dir/nginx.pid"
    # nsenter execs nginx (no --fork for a net namespace), so $! is the
    # nginx master; daemon off keeps it that pid.
    nsenter --net="/run/netns/$ns" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
        -g 'daemon off;' </dev/null >>"$dir/nginx.out" 2>&1 &
    pid=$!
    echo "$pid" > "$STATE/pids/nginx-$name"
    for _ in $(seq 50); do
        [ -s "$dir/nginx.pid" ] && [ "$(cat "$dir/nginx.pid")" = "$pid" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$dir/nginx.out" "$dir/error.log" >&2 2>/dev/null || true
    die "$name: nginx did not start"
}

setup_backend() {   # setup_backend NAME
    local name=$1 ns=$PREFIX$1 addr
    addr=$(be_addr "$name")
    connect "$name" "$ns" "$((10 + ${name#be}))"
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" addr add "$VIP/32" dev lo
    nx "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
        net.ipv4.conf.default.arp_ignore=1 net.ipv4.conf.default.arp_announce=2 \
        net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
        net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.lo.rp_filter=0
    nx "$ns" "$DECAP" attach eth0 --addr "$addr" --pin-dir "$PIN_ROOT/$name" >/dev/null
    start_nginx "$name"
}

# The fast path keeps its connection table per CPU, which assumes what a
# NIC's RSS gives: every packet of a flow received on one CPU. A veth has
# no RSS: its NAPI runs on whichever CPU the sender happened to be on, so
# one TCP connection gets an entry (and a ring pick) on each CPU it is
# seen on, and a ring change between those picks splits the connection.
# Emulate a one-queue NIC: GRO on makes the veth create its NAPI now (XDP
# attached later reuses it), threaded NAPI gives it a kthread, pinned to
# one CPU (LAB_LB_CPU, default 0).
napi_threads() { ps -eo pid=,comm= | awk '$2 ~ /^napi\/eth0-[0-9]+$/ {print $1}' | sort; }
pin_lb_rx() {   # pin_lb_rx NS CPU FILE: FILE keeps the thread's pid
    local ns=$1 cpu=$2 file=$3 before after t
    before=$(napi_threads)
    nx "$ns" ethtool -K eth0 gro on >/dev/null
    # sysfs of the namespace's devices: needs the /sys remount of ip netns exec.
    ip netns exec "$ns" sh -c 'echo 1 > /sys/class/net/eth0/threaded'
    after=$(napi_threads)
    t=$(comm -13 <(echo "$before") <(echo "$after") | head -1)
    if [ -z "$t" ]; then
        say "warning: no NAPI thread for $ns eth0; flows may be seen on several CPUs"
        return 0
    fi
    taskset -pc "$cpu" "$t" >/dev/null
    echo "$t" > "$file"
}

# --- the fleet -------------------------------------------------------------

# bird_conf TEMPLATE OUT NAME ADDR LOCAL_AS: fills in a template of
# scripts/bird/ (fields @NAME@) for the router or a node.
bird_conf() {
    local tmpl=$1 out=$2 name=$3 addr=$4 as=$5
    [ -f "$BIRD_CONF/$tmpl" ] || die "$BIRD_CONF/$tmpl missing"
    sed -e "s|@LOG@|$BIRD_DIR/$name.log|g" -e "s|@ADDR@|$addr|g" \
        -e "s|@LOCAL_AS@|$as|g" -e "s|@IFACE@|eth0|g" \
        -e "s|@ROUTER_ADDR@|$RT_ADDR|g" -e "s|@ROUTER_AS@|$RT_AS|g" \
        -e "s|@TABLE@|$ANNOUNCE_TABLE|g" "$BIRD_CONF/$tmpl" > "$out"
}

# start_bird NAME NS: bird in the foreground (so $! is bird and `down`
# stops it by pid), its socket, pid file and log under $BIRD_DIR.
start_bird() {
    local name=$1 ns=$2 pid
    nx "$ns" bird -p -c "$BIRD_DIR/$name.conf" \
        || die "bird rejects $BIRD_DIR/$name.conf"
    nsenter --net="/run/netns/$ns" bird -f -c "$BIRD_DIR/$name.conf" \
        -s "$BIRD_DIR/$name.ctl" -P "$BIRD_DIR/$name.pid" \
        </dev/null >>"$BIRD_DIR/$name.out" 2>&1 &
    pid=$!
    echo "$pid" > "$STATE/pids/bird-$name"
    for _ in $(seq 50); do
        birdc -s "$BIRD_DIR/$name.ctl" show status >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$BIRD_DIR/$name.out" >&2 2>/dev/null || true
    die "bird $name did not start"
}

bird_established() {   # bird_established NAME: its BGP sessions, "up/all"
    birdc -s "$BIRD_DIR/$1.ctl" show protocols 2>/dev/null |
        awk '$2 == "BGP" {n++; if ($6 == "Established") up++} END {printf "%d/%d\n", up, n}'
}
bfd_up() {   # bfd_up NAME: its BFD sessions, "up/all"
    birdc -s "$BIRD_DIR/$1.ctl" show bfd sessions 2>/dev/null |
        awk '$1 ~ /^[0-9]/ {n++; if ($3 == "Up") up++} END {printf "%d/%d\n", up, n}'
}

setup_router() {
    local i cpu
    connect rt "$NS_RT" 1
    ip -n "$NS_RT" addr add "$RT_ADDR/24" dev eth0
    # The client's link: a veth pair of its own, no bridge.
    ip -n "$NS_RT" link add eth1 type veth peer name eth0 netns "$NS_CLIENT"
    ip -n "$NS_RT" link set eth1 address "$(mac_of 32)"
    ip -n "$NS_CLIENT" link set eth0 address "$(mac_of 10)"
    ip -n "$NS_RT" link set eth1 up
    ip -n "$NS_CLIENT" link set eth0 up
    nx "$NS_RT" ethtool -K eth1 tx off >/dev/null
    nx "$NS_CLIENT" ethtool -K eth0 tx off >/dev/null
    ip -n "$NS_RT" addr add "$RT_CADDR/24" dev eth1
    ip -n "$NS_CLIENT" addr add "$FLEET_CLIENT_ADDR/24" dev eth0
    ip -n "$NS_CLIENT" route add default via "$RT_CADDR"
    # An L4 hash: flows of one client spread over the nodes, not just
    # clients. Policy 3 with the 5-tuple's fields, not 1: policy 1 takes
    # a hash the packet already carries, and over a veth that is the
    # client socket's random sk_txhash (re-drawn at every retransmission
    # timeout), not a hash of its headers as a NIC's RSS gives a real
    # router; `ip route get ... sport P` could not tell a flow's node.
    # rp_filter off: the VIP's answers come from the backends, not from
    # the nodes the router sends the VIP to.
    nx "$NS_RT" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=3 \
        net.ipv4.fib_multipath_hash_fields=0x0037 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
        net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.eth1.rp_filter=0
    mkdir -p "$BIRD_DIR"
    bird_conf router.conf "$BIRD_DIR/rt.conf" rt "$RT_ADDR" "$RT_AS"
    for i in $(seq "$NODES"); do
        printf 'protocol bgp lb%d from node {\n\tneighbor %s as %d;\n}\n' \
            "$i" "$(node_addr "$i")" $((RT_AS + i)) >> "$BIRD_DIR/rt.conf"
    done
}

setup_node() {   # setup_node I
    local i=$1 ns=${PREFIX}lb$1 addr cpus
    addr=$(node_addr "$i")
    connect "lb$i" "$ns" $((1 + i))
    ip -n "$ns" addr add "$addr/24" dev eth0
    nx "$ns" sysctl -qw net.ipv4.ip_forward=1
    nx "$NS_SW" "$DECAP" pass-attach "sw-lb$i" >/dev/null
    # No unknown unicast to a node: once a node's port is down the bridge
    # floods the frames still sent to its MAC, and the other nodes' XDP,
    # which a veth runs before any MAC filter (a NIC filters first), would
    # quietly forward them, hiding the failure the router has to notice.
    bridge -n "$NS_SW" link set dev "sw-lb$i" flood off
    cpus=$(nproc)
    pin_lb_rx "$ns" $(( (${LAB_LB_CPU:-0} + i - 1) % cpus )) "$STATE/lb$i-napi-thread"
    mkdir -p "$STATE/lb$i"
    bird_conf node.conf "$BIRD_DIR/lb$i.conf" "lb$i" "$addr" $((RT_AS + i))
}

# wait_sessions: every BGP session Established and every BFD session Up
# on the router, within 20 s (bird's connect delay is 1 s).
wait_sessions() {
    local want=$NODES/$NODES
    for _ in $(seq 200); do
        [ "$(bird_established rt)" = "$want" ] && [ "$(bfd_up rt)" = "$want" ] && return 0
        sleep 0.1
    done
    return 1
}

fleet_up() {
    local i
    setup_router
    for i in $(seq "$NODES"); do setup_node "$i"; done
    for be in "${BACKENDS[@]}"; do
        setup_backend "$be"
        ip -n "$PREFIX$be" route add default via "$RT_ADDR"
    done
    start_bird rt "$NS_RT"
    for i in $(seq "$NODES"); do start_bird "lb$i" "${PREFIX}lb$i"; done
    wait_sessions || die "BGP $(bird_established rt), BFD $(bfd_up rt) on the router after 20 s (logs: $BIRD_DIR)"
    date -u +%FT%TZ > "$STATE/up"
    say "up: fleet of $NODES nodes ($NET.2-$((NODES + 1))), router $RT_ADDR/$RT_CADDR, client $FLEET_CLIENT_ADDR, backends $NET.11-$((10 + NBACK)), VIP $VIP"
    say "BGP $(bird_established rt) established, BFD $(bfd_up rt) up"
    say "each node announces what sits in its table $ANNOUNCE_TABLE with protocol $ANNOUNCE_PROTO (scripts/lab.sh --help)"
}

lab_up() {
    check_tools
    if [ "$NODES" -gt 1 ]; then
        command -v bird >/dev/null && command -v birdc >/dev/null \
            || die "bird not found: apt-get install bird2"
    fi
    if [ -e "$STATE/up" ]; then
        if [ "$(sed -n 's/^nodes=//p' "$STATE/topology" 2>/dev/null || echo 1)" != "$NODES" ] ||
           [ "$(sed -n 's/^backends=//p' "$STATE/topology" 2>/dev/null || echo 3)" != "$NBACK" ]; then
            die "up with another topology ($(tr '\n' ' ' < "$STATE/topology" 2>/dev/null || echo 'nodes=1 backends=3')): scripts/lab.sh down first"
        fi
        if lab_status >/dev/null; then
            say "already up (scripts/lab.sh status)"
            return 0
        fi
        say "partially up: tearing down first"
        lab_down
    else
        for ns in "${NAMESPACES[@]}" $(lab_namespaces); do
            if ns_exists "$ns"; then
                say "leftover namespace $ns: tearing down first"
                lab_down
                break
            fi
        done
    fi
    mkdir -p "$STATE/pids" "$PIN_ROOT"
    printf 'nodes=%s\nbackends=%s\n' "$NODES" "$NBACK" > "$STATE/topology"
    for ns in "${NAMESPACES[@]}"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    ip -n "$NS_SW" link add br0 type bridge stp_state 0 forward_delay 0
    ip -n "$NS_SW" link set br0 up

    if [ "$NODES" -gt 1 ]; then
        fleet_up
        return
    fi

    connect client "$NS_CLIENT" 10
    ip -n "$NS_CLIENT" addr add "$CLIENT_ADDR/24" dev eth0
    ip -n "$NS_CLIENT" route add "$VIP_NET" via "$LB_ADDR"

    connect lb "$NS_LB" 2
    ip -n "$NS_LB" addr add "$LB_ADDR/24" dev eth0
    nx "$NS_LB" sysctl -qw net.ipv4.ip_forward=1
    # sluiced XDP_TXes out of the balancer's eth0: the frame only reaches
    # the bridge if the peer runs an XDP program (docs/architecture.md,
    # "The lab").
    nx "$NS_SW" "$DECAP" pass-attach sw-lb >/dev/null
    pin_lb_rx "$NS_LB" "${LAB_LB_CPU:-0}" "$STATE/lb-napi-thread"


    for be in "${BACKENDS[@]}"; do
        setup_backend "$be"
    done
    date -u +%FT%TZ > "$STATE/up"
    say "up: client $CLIENT_ADDR, lb $LB_ADDR (eth0), backends $NET.11-$((10 + NBACK)), VIP $VIP"
    say "start sluiced in $NS_LB next (scripts/lab.sh --help)"
}

# --- lb-exec, node-exec, rt-exec ---------------------------------------------

# Every step execs (lab.sh -> unshare -> sh -> nsenter -> CMD): one pid.
# nsenter --net, not `ip netns exec`, which remounts /sys and hides the
# bpffs. The private mount namespace dies with CMD; the run directory
# goes with the state dir at `down`.
lab_ns_exec() {   # lab_ns_exec NS RUNDIR CMD...
    local ns=$1 run=$2
    shift 2
    [ "$(id -u)" = 0 ] || die "needs root"
    [ -e "$STATE/up" ] || die "the lab is not up ($STATE/up missing)"
    [ $# -gt 0 ] || die "which command?"
    ns_exists "$ns" || die "no namespace $ns"
    mkdir -p "$run" /var/run/dpdk
    exec unshare --mount --propagation private sh -c \
        'mount --bind "$1" /var/run/dpdk && ns=$2 && shift 2 && exec nsenter --net="$ns" "$@"' \
        sh "$run" "/run/netns/$ns" "$@"
}
lab_node_exec() {   # lab_node_exec I CMD...
    local i=${1:-}
    case $i in
        ''|*[!0-9]*) die "node-exec: which node? 1-$NODES" ;;
    esac
    [ "$i" -ge 1 ] && [ "$i" -le "$NODES" ] || die "node-exec: node $i: the lab has nodes 1-$NODES"
    shift
    if [ "$NODES" = 1 ]; then
        lab_ns_exec "$NS_LB" "$DPDK_RUN" "$@"
    else
        lab_ns_exec "${PREFIX}lb$i" "$DPDK_RUN-lb$i" "$@"
    fi
}
lab_birdc() {   # lab_birdc rt|I CMD...
    local who=${1:-}
    [ "$NODES" -gt 1 ] || die "birdc: not a fleet (up --nodes N)"
    case $who in
        rt) ;;
        ''|*[!0-9]*) die "birdc: rt or a node number" ;;
        *) who=lb$who ;;
    esac
    [ -S "$BIRD_DIR/$who.ctl" ] || die "birdc: no bird socket $BIRD_DIR/$who.ctl"
    shift
    exec birdc -s "$BIRD_DIR/$who.ctl" "$@"
}

# Every namespace that may be this lab's, whatever topology made it: a
# state dir lost or a topology changed leaves none behind.
lab_namespaces() {
    ip netns list 2>/dev/null | awk '{print $1}' |
        grep -E "^${PREFIX}(sw|client|rt|lb[0-9]*|be[0-9]+)\$" || true
}

# --- down ---------------------------------------------------------------

lab_down() {
    [ "$(id -u)" = 0 ] || die "needs root"
    local f pid comm d
    if [ -d "$STATE/pids" ]; then
        # bird first: its sessions go down before the links do.
        for f in "$STATE"/pids/bird-* "$STATE"/pids/*; do
            [ -e "$f" ] || continue
            comm=$(basename "$f")
            comm=$(echo "$comm" | sed -E 's/-lb[0-9]+$//')   # sluiced-lb2 -> sluiced
            case $comm in   # nginx-be1 -> nginx, python3-udp-be1 -> python3;
            nginx-*|python3-*|bird-*) comm=${comm%%-*} ;;   # sluice-healthd stays whole
            esac
            pid_alive "$f" "$comm" || { rm -f "$f"; continue; }
            pid=$(cat "$f")
            kill -CONT "$pid" 2>/dev/null || true   # a frozen one cannot exit
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do
                [ -d "/proc/$pid" ] || break
                sleep 0.1
            done
            [ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null || true
            say "stopped $(basename "$f") (pid $pid)"
            rm -f "$f"
        done
    fi
    for d in "$PIN_ROOT"/be*; do
        if [ -d "$d" ] && [ -x "$DECAP" ]; then
            "$DECAP" detach eth0 --pin-dir "$d" >/dev/null || true
        fi
    done
    # A sluiced started by hand with --pin-root under $PIN_ROOT leaves pins
    # there too; the lab owns that directory.
    if [ -d "$PIN_ROOT" ]; then
        rm -rf "$PIN_ROOT"
    fi
    for ns in "${NAMESPACES[@]}" $(lab_namespaces); do
        if ns_exists "$ns"; then
            ip netns del "$ns"
            say "deleted namespace $ns"
        fi
    done
    rm -rf "$STATE"
    say "down"
}

# --- status -------------------------------------------------------------

lab_status() {
    local ok=0 ns be xdp sw i napi name
    if [ -e "$STATE/up" ]; then
        echo "lab up since $(cat "$STATE/up") (state $STATE)"
    else
        echo "lab not up (no $STATE/up)"
        ok=1
    fi
    for ns in "${NAMESPACES[@]}"; do
        if ! ns_exists "$ns"; then
            printf '  %-10s missing\n' "$ns"
            ok=1
            continue
        fi
        if [ "$ns" = "$NS_SW" ]; then
            printf '  %-10s br0: %s\n' "$ns" \
                "$(ip -n "$NS_SW" -br link show master br0 2>/dev/null | awk '{print $1}' | sed 's/@.*//' | tr '\n' ' ')"
            if [ "$NODES" = 1 ]; then sw=(sw-lb); else sw=(); for i in $(seq "$NODES"); do sw+=("sw-lb$i"); done; fi
            for i in "${sw[@]}"; do
                xdp=$(ip -n "$NS_SW" -d link show "$i" 2>/dev/null | grep -o 'prog/xdp id [0-9]*' || true)
                printf '  %-10s %s xdp: %s\n' "" "$i" "${xdp:-none}"
                [ -n "$xdp" ] || ok=1
            done
            continue
        fi
        if [ "$ns" = "$NS_RT" ] && [ "$NODES" -gt 1 ]; then
            printf '  %-10s eth0 %s, eth1 %s\n' "$ns" \
                "$(ip -n "$ns" -4 -br addr show eth0 2>/dev/null | awk '{print $3}')" \
                "$(ip -n "$ns" -4 -br addr show eth1 2>/dev/null | awk '{print $3}')"
            if pid_alive "$STATE/pids/bird-rt" bird; then
                printf '  %-10s bird pid %s: BGP %s established, BFD %s up\n' "" \
                    "$(cat "$STATE/pids/bird-rt")" "$(bird_established rt)" "$(bfd_up rt)"
            else
                printf '  %-10s bird not running\n' ""
                ok=1
            fi
            ip -n "$ns" -4 route show "$VIP_NET" 2>/dev/null | sed 's/^/             /'
            continue
        fi
        case $ns in
        "$NS_LB") name=lb; napi=$STATE/lb-napi-thread ;;
        "${PREFIX}"lb[0-9]*) name=${ns#"$PREFIX"}; napi=$STATE/$name-napi-thread ;;
        *) name=; napi= ;;
        esac
        if [ -n "$napi" ] && [ -s "$napi" ]; then
            printf '  %-10s eth0 NAPI thread %s on CPU %s\n' "$ns" "$(cat "$napi")" \
                "$(taskset -pc "$(cat "$napi")" 2>/dev/null | sed 's/.*: //')"
        fi
        if [ "$ns" = "$NS_LB" ] && pid_alive "$STATE/pids/sluiced" sluiced; then
            printf '  %-10s sluiced pid %s\n' "$ns" "$(cat "$STATE/pids/sluiced")"
        fi
        if [ -n "$name" ] && [ "$name" != lb ]; then
            pid_alive "$STATE/pids/sluiced-$name" sluiced &&
                printf '  %-10s sluiced pid %s\n' "$ns" "$(cat "$STATE/pids/sluiced-$name")"
            if pid_alive "$STATE/pids/bird-$name" bird; then
                printf '  %-10s bird pid %s: BGP %s, table %s: %s\n' "$ns" "$(cat "$STATE/pids/bird-$name")" \
                    "$(bird_established "$name")" "$ANNOUNCE_TABLE" \
                    "$(ip -n "$ns" -4 route show table "$ANNOUNCE_TABLE" proto "$ANNOUNCE_PROTO" 2>/dev/null |
                        awk '{print $2}' | tr '\n' ' ')"
            else
                printf '  %-10s bird not running\n' "$ns"
                ok=1
            fi
        fi
        xdp=$(ip -n "$ns" -d link show eth0 2>/dev/null | grep -o 'prog/xdp id [0-9]*' || true)
        printf '  %-10s eth0 %s xdp: %s\n' "$ns" \
            "$(ip -n "$ns" -4 -br addr show eth0 2>/dev/null | awk '{print $3}')" "${xdp:-none}"
        case $ns in
        "${PREFIX}"be*)
            be=${ns#"$PREFIX"}
            [ -n "$xdp" ] || ok=1
            if pid_alive "$STATE/pids/nginx-$be" nginx; then
                printf '  %-10s nginx pid %s, VIP on lo: %s\n' "" "$(cat "$STATE/pids/nginx-$be")" \
                    "$(ip -n "$ns" -4 -br addr show lo | grep -c "$VIP/32" || true)"
            else
                printf '  %-10s nginx not running\n' ""
                ok=1
            fi
            ;;
        esac
    done
    if [ -d "$PIN_ROOT" ]; then
        echo "  pins: $(cd "$PIN_ROOT" && ls | tr '\n' ' ')"
    fi
    return $ok
}

# up's options: --nodes N, --backends M (also read by env, for a lab not
# up yet).
parse_topology() {
    while [ $# -gt 0 ]; do
        case $1 in
        --nodes) NODES=${2:-}; shift 2 || die "--nodes needs a number" ;;
        --nodes=*) NODES=${1#--nodes=}; shift ;;
        --backends) NBACK=${2:-}; shift 2 || die "--backends needs a number" ;;
        --backends=*) NBACK=${1#--backends=}; shift ;;
        *) usage >&2; exit 2 ;;
        esac
    done
    case $NODES in ''|*[!0-9]*) die "--nodes '$NODES': a number, 1-8" ;; esac
    case $NBACK in ''|*[!0-9]*) die "--backends '$NBACK': a number, 1-9" ;; esac
    [ "$NODES" -ge 1 ] && [ "$NODES" -le 8 ] || die "--nodes $NODES: 1-8 (the nodes sit at $NET.2-9)"
    [ "$NBACK" -ge 1 ] && [ "$NBACK" -le 9 ] || die "--backends $NBACK: 1-9 (at $NET.11-19)"
    set_topology
}

case ${1:-} in
-h|--help|help) usage ;;
up) shift; parse_topology "$@"; lab_up ;;
env) shift; [ -s "$STATE/topology" ] || parse_topology "$@"
    printf 'LAB_PREFIX=%q\nLAB_STATE=%q\nLAB_PINS=%q\nLAB_DPDK_RUN=%q\nLAB_NODES=%q\nLAB_BACKENDS=%q\n' \
        "$PREFIX" "$STATE" "$PIN_ROOT" "$DPDK_RUN" "$NODES" "$NBACK" ;;
lb-exec) shift; lab_node_exec 1 "$@" ;;
node-exec) shift; lab_node_exec "$@" ;;
rt-exec) shift
    [ "$NODES" -gt 1 ] || die "rt-exec: not a fleet (up --nodes N)"
    lab_ns_exec "$NS_RT" "$DPDK_RUN-rt" "$@" ;;
birdc) shift; lab_birdc "$@" ;;
run-nginx)
    [ "$(id -u)" = 0 ] || die "needs root"
    [ -f "$STATE/${2:?run-nginx needs a backend: be1, be2 or be3}/nginx.conf" ] \
        || die "${2}: no nginx config under $STATE (is the lab up?)"
    run_nginx "$2" ;;
down) lab_down ;;
status) lab_status || exit 3 ;;
*) usage >&2; exit 2 ;;
esac
