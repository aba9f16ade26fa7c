#!/bin/sh
# Install every Debian package Sluice needs to build, test and benchmark.
# Idempotent and non-interactive: packages already present are skipped, so a
# machine that has them all does not touch the network.
set -eu

PACKAGES="
bird2
bpftool
build-essential
clang
cmake
curl
ethtool
iproute2
libbpf-dev
libcmocka-dev
libelf-dev
libjansson-dev
libmicrohttpd-dev
libmnl-dev
llvm
meson
nginx-light
ninja-build
pkg-config
python3
wrk
prometheus
zlib1g-dev
"

# DPDK is optional at build time (meson option "dpdk"); set SLUICE_NO_DPDK=1
# to skip its ~200 MB of packages on a host that only runs the XDP path.
if [ "${SLUICE_NO_DPDK:-0}" != 1 ]; then
    PACKAGES="$PACKAGES dpdk dpdk-dev libdpdk-dev"
fi

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
    "install ok installed") ;;
    *) missing="$missing $pkg" ;;
    esac
done

if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing:$missing; run as root to install them" >&2
    exit 1
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing
