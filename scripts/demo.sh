#!/bin/bash
# demo.sh - README's first command (root): installs the Debian packages,
# builds, brings up the netns lab (scripts/lab.sh: a client, the balancer,
# three nginx backends), starts sluiced (XDP on the balancer's eth0) and
# sluice-healthd in sl-lb, creates a VIP with the three backends and an
# HTTP health check, sends a bounded burst of real HTTP requests from the
# client and prints who answered, the counters and how to poke at it.
# The lab stays up; `scripts/lab.sh down` removes it, sluiced and
# sluice-healthd included (they are tracked by pid under the lab's state).
#
# --dpdk: sluice-dpdk instead of sluiced (net_af_xdp on the balancer's
# eth0, the balancer's address on the net_tap exception port sl-exc; one
# worker lcore that polls, so one CPU stays busy while it runs).
#
# --nodes N (2-8): the fleet lab instead (scripts/lab.sh up --nodes N): N
# nodes, each with sluiced and sluice-healthd, announce the VIP over BGP
# (bird2) to a router that spreads the client's flows over them by ECMP;
# shows the spread per node, then a node failing (its link down) with
# every request still answered, and brings it back.
set -euo pipefail
# The daemons started here (sluiced, sluice-healthd) outlive this script: they must not
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
# The lab's names (namespaces sl-*, state, pins; SLUICE_LAB_PREFIX picks
# others) as scripts/lab.sh spells them.
eval "$("$REPO/scripts/lab.sh" env)"
STATE=$LAB_STATE
PIN_ROOT=$LAB_PINS
NS_LB=${LAB_PREFIX}lb
NS_CLIENT=${LAB_PREFIX}client
REQUESTS=${DEMO_REQUESTS:-60}
VIP=10.100.0.1
SVC=$VIP:80/tcp
BACKENDS="10.200.0.11 10.200.0.12 10.200.0.13"
SOCK=$STATE/sluiced.sock
export SLUICE_BUILD=$BUILD SLUICE_LAB_PREFIX=$LAB_PREFIX SLUICE_LAB_STATE=$STATE \
    SLUICE_LAB_PINS=$PIN_ROOT

say() { echo; echo "== $*"; }
die() { echo "demo: $*" >&2; exit 1; }

DPDK=0
NODES=1
while [ $# -gt 0 ]; do
    case $1 in
    -h|--help)
        sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
        echo "Environment: SLUICE_BUILD, SLUICE_LAB_PREFIX, SLUICE_LAB_STATE, SLUICE_LAB_PINS,"
        echo "DEMO_REQUESTS (default 60)."
        exit 0 ;;
    --dpdk) DPDK=1; shift ;;
    --nodes) NODES=${2:-}; shift 2 || true ;;
    *) echo "usage: scripts/demo.sh [--dpdk | --nodes N] [--help]" >&2; exit 2 ;;
    esac
done
case $NODES in ''|*[!0-9]*) die "--nodes '$NODES': a number, 2-8" ;; esac
[ "$NODES" -le 8 ] || die "--nodes $NODES: 2-8"
[ "$DPDK" = 0 ] || [ "$NODES" = 1 ] || die "--dpdk and --nodes: one or the other"
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, XDP): sudo scripts/demo.sh"

say "packages (scripts/install-deps.sh)"
if [ "$DPDK" = 1 ]; then
    SLUICE_NO_DPDK=0 "$REPO/scripts/install-deps.sh"
else
    SLUICE_NO_DPDK=${SLUICE_NO_DPDK:-1} "$REPO/scripts/install-deps.sh"
fi

say "build ($BUILD)"
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" "$REPO"
fi
ninja -C "$BUILD"
if [ "$DPDK" = 1 ] && [ ! -x "$BUILD/dataplane/sluice-dpdk" ]; then
    die "$BUILD has no dataplane/sluice-dpdk: meson found no libdpdk (meson setup --reconfigure $BUILD)"
fi

if [ "$NODES" -gt 1 ]; then
    # shellcheck source=demo_fleet.sh
    . "$HERE/demo_fleet.sh"
    exit 0
fi

say "lab (scripts/lab.sh up)"
"$REPO/scripts/lab.sh" up

pid_alive() {   # pid_alive PIDFILE
    [ -s "$1" ] && [ -d "/proc/$(cat "$1")" ]
}
ctl() { nsenter --net=/run/netns/$NS_LB "$BUILD/controlplane/sluicectl" --socket "$SOCK" "$@"; }

# start_daemon NAME ARGS...: in the balancer's namespace, tracked under
# pids/NAME, until its API answers. lab.sh lb-exec: nsenter (not `ip netns
# exec`, which remounts /sys and hides the bpffs), and the lab's own
# /var/run/dpdk for sluice-dpdk's EAL run directory.
start_daemon() {
    local name=$1
    shift
    "$REPO/scripts/lab.sh" lb-exec "$@" </dev/null >>"$STATE/$name.log" 2>&1 &
    echo $! > "$STATE/pids/$name"
    for _ in $(seq 200); do
        ctl status >/dev/null 2>&1 && break
        kill -0 "$(cat "$STATE/pids/$name")" 2>/dev/null || break
        sleep 0.05
    done
    ctl status >/dev/null 2>&1 || { tail -n 20 "$STATE/$name.log" >&2; die "$name did not start"; }
    echo "$name pid $(cat "$STATE/pids/$name"), log $STATE/$name.log"
}

daemon=sluiced
[ "$DPDK" = 1 ] && daemon=sluice-dpdk
say "$daemon and sluice-healthd in $NS_LB"
if pid_alive "$STATE/pids/sluiced" || pid_alive "$STATE/pids/sluice-dpdk"; then
    echo "the balancer's daemon already runs (scripts/lab.sh down to start afresh)"
else
    cat > "$STATE/sluice.conf" <<CONF
# written by scripts/demo.sh
node set --interface eth0 --encap-source 10.200.0.2
CONF
    if [ "$DPDK" = 1 ]; then
        start_daemon sluice-dpdk "$BUILD/dataplane/sluice-dpdk" --foreground \
            --config "$STATE/sluice.conf" --state "$STATE/sluiced.state" --socket "$SOCK" \
            -- -l 0-1 --no-huge -m 512 --no-pci \
            --vdev=net_af_xdp0,iface=eth0 --vdev=net_tap0,iface=sl-exc
        # AF_XDP takes eth0's frames from the kernel: its address moves
        # to the exception port, as on a host whose NIC DPDK owns.
        ip -n "$NS_LB" addr del 10.200.0.2/24 dev eth0
        ip -n "$NS_LB" addr add 10.200.0.2/24 dev sl-exc
        echo "10.200.0.2/24 moved from eth0 to the exception port sl-exc"
    else
        start_daemon sluiced "$BUILD/controlplane/sluiced" --foreground \
            --config "$STATE/sluice.conf" --state "$STATE/sluiced.state" \
            --socket "$SOCK" --pin-root "$PIN_ROOT/lb"
    fi
fi
# lab.sh down stops what is tracked under $STATE/pids, checking that the
# process still has the pid file's name.
if pid_alive "$STATE/pids/sluice-healthd"; then
    echo "sluice-healthd already running (pid $(cat "$STATE/pids/sluice-healthd"))"
else
    nsenter --net=/run/netns/$NS_LB "$BUILD/healthd/sluice-healthd" --foreground --socket "$SOCK" \
        --refresh 500 </dev/null >>"$STATE/healthd.log" 2>&1 &
    echo $! > "$STATE/pids/sluice-healthd"
    echo "sluice-healthd pid $(cat "$STATE/pids/sluice-healthd"), log $STATE/healthd.log"
fi

say "VIP $SVC with the three nginx backends, HTTP check of /health"
if ctl vip list | awk '{print $1}' | grep -x "$SVC" >/dev/null; then
    echo "already configured"
else
    ctl vip add "$SVC" --check http --check-path /health --check-port 80 \
        --check-interval 1s --check-timeout 500ms --check-rise 2 --check-fall 2
    for b in $BACKENDS; do ctl backend add "$SVC" "$b"; done
fi
healthy() {
    ctl --json backend list "$SVC" | python3 -c '
import json, sys
b = json.load(sys.stdin)["backends"]
sys.exit(0 if b and all(x["health"] == "up" for x in b) else 1)'
}
for _ in $(seq 50); do healthy && break; sleep 0.2; done
healthy || echo "demo: warning: not every backend is healthy yet (see below)"

say "$REQUESTS HTTP requests from $NS_CLIENT to http://$VIP/"
declare -A seen=()
failed=0
for _ in $(seq "$REQUESTS"); do
    if body=$(nsenter --net=/run/netns/$NS_CLIENT curl -s --max-time 2 "http://$VIP/"); then
        seen[$body]=$(( ${seen[$body]:-0} + 1 ))
    else
        failed=$((failed + 1))
    fi
done
for k in $(printf '%s\n' "${!seen[@]}" | sort); do
    printf '  %-6s answered %3d  %s\n' "$k" "${seen[$k]}" \
        "$(printf '%*s' $(( ${seen[$k]} * 40 / REQUESTS )) '' | tr ' ' '#')"
done
echo "  failed          $failed"
echo "  (each backend's nginx logged the client's own address 10.200.0.10: direct server return, no SNAT;"
echo "   see $STATE/be1/access.log)"

say "sluicectl stats"
ctl stats
say "sluicectl backend list"
ctl backend list

NS="nsenter --net=/run/netns/$NS_LB"
CTL="$BUILD/controlplane/sluicectl --socket $SOCK"
cat <<EOF

== poke it (the lab stays up)
  $NS $CTL backend list
  $NS $CTL flows $SVC
  $NS $CTL backend set $SVC 10.200.0.12 --drain
  $NS $CTL vip set $SVC --affinity source
  nsenter --net=/run/netns/$NS_CLIENT curl -s http://$VIP/
  kill \$(cat $STATE/pids/nginx-be2)     # healthd marks be2 down within ~2 s
  scripts/lab.sh status
  scripts/lab.sh down                    # removes everything, sluiced and healthd included
EOF
