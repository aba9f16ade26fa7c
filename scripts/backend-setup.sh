#!/bin/bash
# backend-setup.sh - prepares a backend host (nginx, HAProxy, Envoy...) for
# Sluice's direct server return, or undoes it:
#   - the VIP(s) on lo (/32 or /128), so the host accepts the decapsulated
#     packets and answers from the VIP;
#   - arp_ignore=1 / arp_announce=2 (all and IF), so the host never answers
#     or advertises the VIP on the LAN (only the balancer does);
#   - rp_filter=0 (all, default, IF, lo: the kernel uses the max of all and
#     the interface), since replies and requests take different paths;
#   - xdp/decap.bpf.c attached to IF through sluice-decap, decapsulating the
#     balancer's IP-in-IP for the decap address(es) (default: IF's first
#     IPv4 address), pinned under /sys/fs/bpf/sluice-decap/IF.
# Running it twice is harmless. The sysctl values found on the first run are
# saved and put back by --undo. Nothing is made persistent across reboots:
# run it from the unit that starts your server (or see --help).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SAVE_DIR=${SLUICE_BACKEND_STATE:-/var/lib/sluice/backend-setup}

usage() {
    cat <<EOF
usage: scripts/backend-setup.sh VIP [VIP...] --interface IF [--decap-addr A]...
                                [--generic] [--undo]

Prepares this host as a Sluice DSR backend: VIP(s) on lo, arp_ignore=1,
arp_announce=2, rp_filter=0, and the decap XDP program on IF decapsulating
IP-in-IP sent to the decap address(es). Idempotent.

  VIP               an IPv4 or IPv6 address the balancer serves (no port)
  --interface IF    the interface the balancer's packets arrive on
  --decap-addr A    outer destination to decapsulate (repeatable); default
                    the first IPv4 address of IF. Use the address the
                    balancer's 'backend add' names.
  --generic         attach the decap program in generic (skb) mode, for a
                    driver without native XDP
  --undo            remove the VIP(s) from lo, detach the decap program and
                    put back the sysctl values saved by the first run

sluice-decap is taken from \$SLUICE_DECAP, then PATH, then
$REPO/build/xdp/sluice-decap. Saved sysctls: $SAVE_DIR/IF.sysctl.
Example: scripts/backend-setup.sh 198.51.100.1 --interface eth0
EOF
}

die() { echo "backend-setup: $*" >&2; exit 2; }
say() { echo "backend-setup: $*"; }

VIPS=()
DECAP_ADDRS=()
IFACE=
UNDO=0
GENERIC=()
while [ $# -gt 0 ]; do
    case $1 in
    -h|--help) usage; exit 0 ;;
    --interface) [ $# -ge 2 ] || die "--interface needs a name"; IFACE=$2; shift 2 ;;
    --decap-addr) [ $# -ge 2 ] || die "--decap-addr needs an address"; DECAP_ADDRS+=("$2"); shift 2 ;;
    --generic) GENERIC=(--generic); shift ;;
    --undo) UNDO=1; shift ;;
    -*) die "unknown option $1 (--help)" ;;
    *) VIPS+=("$1"); shift ;;
    esac
done
[ -n "$IFACE" ] || die "--interface is required (--help)"
[ ${#VIPS[@]} -gt 0 ] || die "at least one VIP is required (--help)"
[ "$(id -u)" = 0 ] || { echo "backend-setup: needs root" >&2; exit 1; }
ip link show dev "$IFACE" >/dev/null 2>&1 || die "$IFACE: no such interface"

is_v6() { [[ $1 == *:* ]]; }
for v in "${VIPS[@]}"; do
    python3 -c 'import ipaddress,sys; ipaddress.ip_address(sys.argv[1])' "$v" 2>/dev/null \
        || die "$v: not an IP address (a VIP here is an address, without port)"
done

if [ -n "${SLUICE_DECAP:-}" ]; then
    DECAP=$SLUICE_DECAP
elif command -v sluice-decap >/dev/null; then
    DECAP=$(command -v sluice-decap)
else
    DECAP=$REPO/build/xdp/sluice-decap
fi
[ -x "$DECAP" ] || { echo "backend-setup: sluice-decap not found (ninja -C build)" >&2; exit 1; }

# IF's name is used as a sysctl path component: eth0.100 -> eth0/100.
SYSCTL_IF=${IFACE//./\/}
SYSCTLS=(
    "net.ipv4.conf.all.arp_ignore=1"
    "net.ipv4.conf.all.arp_announce=2"
    "net.ipv4.conf.$SYSCTL_IF.arp_ignore=1"
    "net.ipv4.conf.$SYSCTL_IF.arp_announce=2"
    "net.ipv4.conf.all.rp_filter=0"
    "net.ipv4.conf.default.rp_filter=0"
    "net.ipv4.conf.$SYSCTL_IF.rp_filter=0"
    "net.ipv4.conf.lo.rp_filter=0"
)
SAVE=$SAVE_DIR/$IFACE.sysctl

if [ "$UNDO" = 1 ]; then
    for v in "${VIPS[@]}"; do
        if is_v6 "$v"; then p=128; else p=32; fi
        if ip addr del "$v/$p" dev lo 2>/dev/null; then
            say "removed $v/$p from lo"
        fi
    done
    "$DECAP" detach "$IFACE"
    if [ -f "$SAVE" ]; then
        while IFS= read -r kv; do
            [ -n "$kv" ] && sysctl -qw "$kv"
        done < "$SAVE"
        rm -f "$SAVE"
        say "sysctls restored from $SAVE"
    fi
    exit 0
fi

# Decap addresses: given, else IF's first IPv4 address.
if [ ${#DECAP_ADDRS[@]} -eq 0 ]; then
    a=$(ip -4 -o addr show dev "$IFACE" scope global | awk '{print $4}' | cut -d/ -f1 | head -1)
    [ -n "$a" ] || die "$IFACE has no IPv4 address: give --decap-addr"
    DECAP_ADDRS=("$a")
fi

# Save the values in force before the first run only.
if [ ! -f "$SAVE" ]; then
    mkdir -p "$SAVE_DIR"
    for kv in "${SYSCTLS[@]}"; do
        k=${kv%%=*}
        echo "$k=$(sysctl -n "$k")"
    done > "$SAVE.tmp"
    mv "$SAVE.tmp" "$SAVE"
fi
for kv in "${SYSCTLS[@]}"; do
    sysctl -qw "$kv"
done
say "arp_ignore=1 arp_announce=2 (all, $IFACE), rp_filter=0 (all, default, $IFACE, lo)"

for v in "${VIPS[@]}"; do
    if is_v6 "$v"; then p=128; else p=32; fi
    ip addr replace "$v/$p" dev lo
done
ip link set lo up
say "on lo: ${VIPS[*]}"

"$DECAP" attach "$IFACE" --addr "${DECAP_ADDRS[@]}" "${GENERIC[@]}"
say "done: your server should listen on the VIP(s) (or 0.0.0.0 / ::)"
