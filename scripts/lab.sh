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
# "sl-" is the default prefix of the namespace names (SLUICE_LAB_PREFIX).
# Labs with different prefixes run side by side: everything a lab owns
# outside its namespaces (state dir, bpffs pins) is named after its
# prefix too, and nothing of it sits in the root namespace (no bridge, no
# veth), so a test lab can run beside the demo's.
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
BACKENDS=(be1 be2 be3)
NS_SW=${PREFIX}sw
NS_CLIENT=${PREFIX}client
NS_LB=${PREFIX}lb
NAMESPACES=("$NS_SW" "$NS_CLIENT" "$NS_LB" "${BACKENDS[@]/#/$PREFIX}")

usage() {
    cat <<EOF
usage: scripts/lab.sh up|down|status|env|run-nginx BE|lb-exec CMD... [--help]

up      create the lab (idempotent: says "already up" when it is)
down    stop the lab's nginx (by pid), remove its XDP pins and namespaces
status  print what is up; exit 0 when the whole lab is up, 3 otherwise
env     print LAB_PREFIX, LAB_STATE, LAB_PINS and LAB_DPDK_RUN as shell
        assignments (for scripts that drive the lab:
        eval "\$(scripts/lab.sh env)")
lb-exec CMD [ARG...]
        exec CMD in the balancer's namespace with the lab's own
        /var/run/dpdk ($DPDK_RUN), so that a DPDK process's EAL run
        directory (sluice-dpdk's default --file-prefix is fixed) cannot meet
        another lab's or the host's. In the background, \$! is CMD's pid.

Namespaces: ${NAMESPACES[*]} (bridge br0 in $NS_SW).
  client  $CLIENT_ADDR    route $VIP_NET via $LB_ADDR
  lb      $LB_ADDR     eth0, ip_forward=1
  be1..3  $NET.11-13  VIP $VIP/32 on lo, decap XDP on eth0, nginx
State (pids, nginx configs and logs): $STATE; pins: $PIN_ROOT.
Needs root, nginx (Debian package nginx-light or nginx), ethtool, and
$DECAP (ninja -C build). Environment: SLUICE_LAB_PREFIX (default sl-;
it names the namespaces, and any other prefix P- also moves the default
state and pins to /run/sluice-lab-P and /sys/fs/bpf/sluice-lab-P),
SLUICE_BUILD, SLUICE_LAB_STATE, SLUICE_LAB_PINS, SLUICE_DECAP.

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
pin_lb_rx() {
    local before after t
    before=$(napi_threads)
    nx "$NS_LB" ethtool -K eth0 gro on >/dev/null
    # sysfs of the namespace's devices: needs the /sys remount of ip netns exec.
    ip netns exec "$NS_LB" sh -c 'echo 1 > /sys/class/net/eth0/threaded'
    after=$(napi_threads)
    t=$(comm -13 <(echo "$before") <(echo "$after") | head -1)
    if [ -z "$t" ]; then
        say "warning: no NAPI thread for $NS_LB eth0; flows may be seen on several CPUs"
        return 0
    fi
    taskset -pc "${LAB_LB_CPU:-0}" "$t" >/dev/null
    echo "$t" > "$STATE/lb-napi-thread"
}

lab_up() {
    check_tools
    if [ -e "$STATE/up" ]; then
        if lab_status >/dev/null; then
            say "already up (scripts/lab.sh status)"
            return 0
        fi
        say "partially up: tearing down first"
        lab_down
    else
        for ns in "${NAMESPACES[@]}"; do
            if ns_exists "$ns"; then
                say "leftover namespace $ns: tearing down first"
                lab_down
                break
            fi
        done
    fi
    mkdir -p "$STATE/pids" "$PIN_ROOT"
    for ns in "${NAMESPACES[@]}"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    ip -n "$NS_SW" link add br0 type bridge stp_state 0 forward_delay 0
    ip -n "$NS_SW" link set br0 up

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
    pin_lb_rx


    for be in "${BACKENDS[@]}"; do
        setup_backend "$be"
    done
    date -u +%FT%TZ > "$STATE/up"
    say "up: client $CLIENT_ADDR, lb $LB_ADDR (eth0), backends $NET.11-13, VIP $VIP"
    say "start sluiced in $NS_LB next (scripts/lab.sh --help)"
}

# --- lb-exec ------------------------------------------------------------

# Every step execs (lab.sh -> unshare -> sh -> nsenter -> CMD): one pid.
# nsenter --net, not `ip netns exec`, which remounts /sys and hides the
# bpffs. The private mount namespace dies with CMD; $DPDK_RUN goes with
# the state dir at `down`.
lab_lb_exec() {
    [ "$(id -u)" = 0 ] || die "needs root"
    [ -e "$STATE/up" ] || die "the lab is not up ($STATE/up missing)"
    [ $# -gt 0 ] || die "lb-exec needs a command"
    mkdir -p "$DPDK_RUN" /var/run/dpdk
    exec unshare --mount --propagation private sh -c \
        'mount --bind "$1" /var/run/dpdk && ns=$2 && shift 2 && exec nsenter --net="$ns" "$@"' \
        sh "$DPDK_RUN" "/run/netns/$NS_LB" "$@"
}

# --- down ---------------------------------------------------------------

lab_down() {
    [ "$(id -u)" = 0 ] || die "needs root"
    local f pid comm
    if [ -d "$STATE/pids" ]; then
        for f in "$STATE"/pids/*; do
            [ -e "$f" ] || continue
            comm=$(basename "$f")
            case $comm in   # nginx-be1 -> nginx, python3-udp-be1 -> python3;
            nginx-*|python3-*) comm=${comm%%-*} ;;   # sluice-healthd stays whole
            esac
            pid_alive "$f" "$comm" || { rm -f "$f"; continue; }
            pid=$(cat "$f")
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
    for be in "${BACKENDS[@]}"; do
        if [ -d "$PIN_ROOT/$be" ] && [ -x "$DECAP" ]; then
            "$DECAP" detach eth0 --pin-dir "$PIN_ROOT/$be" >/dev/null || true
        fi
    done
    # A sluiced started by hand with --pin-root under $PIN_ROOT leaves pins
    # there too; the lab owns that directory.
    if [ -d "$PIN_ROOT" ]; then
        rm -rf "$PIN_ROOT"
    fi
    for ns in "${NAMESPACES[@]}"; do
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
    local ok=0 ns be xdp
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
            xdp=$(ip -n "$NS_SW" -d link show sw-lb 2>/dev/null | grep -o 'prog/xdp id [0-9]*' || true)
            printf '  %-10s sw-lb xdp: %s\n' "" "${xdp:-none}"
            [ -n "$xdp" ] || ok=1
            continue
        fi
        if [ "$ns" = "$NS_LB" ] && [ -s "$STATE/lb-napi-thread" ]; then
            printf '  %-10s eth0 NAPI thread %s on CPU %s\n' "$ns" "$(cat "$STATE/lb-napi-thread")" \
                "$(taskset -pc "$(cat "$STATE/lb-napi-thread")" 2>/dev/null | sed 's/.*: //')"
        fi
        if [ "$ns" = "$NS_LB" ] && pid_alive "$STATE/pids/sluiced" sluiced; then
            printf '  %-10s sluiced pid %s\n' "$ns" "$(cat "$STATE/pids/sluiced")"
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

case ${1:-} in
-h|--help|help) usage ;;
up) lab_up ;;
env) printf 'LAB_PREFIX=%q\nLAB_STATE=%q\nLAB_PINS=%q\nLAB_DPDK_RUN=%q\n' \
        "$PREFIX" "$STATE" "$PIN_ROOT" "$DPDK_RUN" ;;
lb-exec) shift; lab_lb_exec "$@" ;;
run-nginx)
    [ "$(id -u)" = 0 ] || die "needs root"
    [ -f "$STATE/${2:?run-nginx needs a backend: be1, be2 or be3}/nginx.conf" ] \
        || die "${2}: no nginx config under $STATE (is the lab up?)"
    run_nginx "$2" ;;
down) lab_down ;;
status) lab_status || exit 3 ;;
*) usage >&2; exit 2 ;;
esac
