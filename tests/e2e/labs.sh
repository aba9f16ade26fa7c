#!/bin/bash
# Two netns labs side by side (root): scripts/lab.sh under two prefixes,
# each with sluiced on its balancer (pins under its own bpffs directory,
# its own API socket and state), both forwarding real HTTP through the
# same VIP address at once; taking one down leaves the other whole. This
# is what lets tests/e2e/e2e.sh run while the demo's lab (sl-*) is up.
# Everything it starts is stopped by pid, and only its own two labs are
# taken down.
set -euo pipefail

BUILD=${1:?usage: labs.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB=$(cd "$HERE/../.." && pwd)/scripts/lab.sh
if [ "$(id -u)" != 0 ]; then
    echo "labs.sh: skipped: needs root (namespaces, XDP)"
    exit 77
fi
if ! command -v nginx >/dev/null; then
    echo "labs.sh: skipped: nginx not found (apt-get install nginx-light)"
    exit 77
fi
# shellcheck source=../check.sh
. "$HERE/../check.sh"

A=slx$$a-
B=slx$$b-
VIP=10.100.0.1
export SLUICE_BUILD=$BUILD
unset SLUICE_LAB_PREFIX SLUICE_LAB_STATE SLUICE_LAB_PINS SLUICE_DECAP

lab() { SLUICE_LAB_PREFIX=$1 "$LAB" "${@:2}"; }
declare -A SLUICED=()   # prefix -> sluiced pid
labvar() { lab "$1" env | sed -n "s/^$2=//p"; }   # labvar PREFIX LAB_STATE

cleanup() {
    set +e
    if [ "$failures" != 0 ]; then
        for p in "$A" "$B"; do
            f=$(labvar "$p" LAB_STATE)/sluiced.log
            [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }
        done
    fi
    lab "$A" down >/dev/null 2>&1
    lab "$B" down >/dev/null 2>&1
    for p in "${SLUICED[@]}"; do
        kill "$p" 2>/dev/null && echo "labs.sh: sluiced $p outlived its lab's down"
    done
}
trap cleanup EXIT

die() { echo "not ok - $*"; failures=$((failures + 1)); exit 1; }
ctl() {   # ctl PREFIX ARGS...
    nsenter --net="/run/netns/${1}lb" "$BUILD/controlplane/sluicectl" \
        --socket "$(labvar "$1" LAB_STATE)/sluiced.sock" "${@:2}"
}

start_sluiced() {   # start_sluiced PREFIX: tracked under the lab's pids
    local p=$1 state pins
    state=$(labvar "$p" LAB_STATE)
    pins=$(labvar "$p" LAB_PINS)
    {
        echo "node set --interface eth0 --encap-source 10.200.0.2"
        echo "vip add $VIP:80/tcp"
        for b in 11 12 13; do echo "backend add $VIP:80/tcp 10.200.0.$b"; done
    } > "$state/sluice.conf"
    # lab.sh itself, not the lab function: $! must be the daemon (lb-exec
    # execs), not a subshell running a function.
    SLUICE_LAB_PREFIX=$p "$LAB" lb-exec "$BUILD/controlplane/sluiced" --foreground \
        --config "$state/sluice.conf" --state "$state/sluiced.state" \
        --socket "$state/sluiced.sock" --pin-root "$pins/lb" \
        </dev/null >>"$state/sluiced.log" 2>&1 &
    SLUICED[$p]=$!
    echo "$!" > "$state/pids/sluiced"
    for _ in $(seq 200); do
        ready ctl "$p" && return 0
        kill -0 "${SLUICED[$p]}" 2>/dev/null || break
        sleep 0.05
    done
    return 1
}

# answers PREFIX: 12 requests through the VIP from the lab's client all
# answered by its backends.
answers() {
    local n=0
    for _ in $(seq 12); do
        nsenter --net="/run/netns/${1}client" curl -s --max-time 2 "http://$VIP/" |
            grep -x 'be[123]' >/dev/null && n=$((n + 1))
    done
    echo "   (${1}client: $n/12 answered)"
    [ "$n" = 12 ]
}

whole() { lab "$1" status >/dev/null; }   # whole PREFIX
alive() { local st; st=$(ps -o stat= -p "$1") && [[ $st != Z* ]]; }   # not a zombie

lab_gone() {   # lab_gone PREFIX: no namespace, state dir, pins or sluiced left
    local ns
    ! alive "${SLUICED[$1]}" || return 1
    for ns in sw client lb be1 be2 be3; do
        [ ! -e "/run/netns/$1$ns" ] || return 1
    done
    [ ! -e "$(labvar "$1" LAB_STATE)" ] && [ ! -e "$(labvar "$1" LAB_PINS)" ]
}

for p in "$A" "$B"; do
    lab "$p" up >/dev/null || die "scripts/lab.sh up with prefix $p"
    start_sluiced "$p" || die "sluiced starts in ${p}lb"
done
check "the two labs have their own state dirs" \
    test "$(labvar "$A" LAB_STATE)" != "$(labvar "$B" LAB_STATE)"
check "the two labs have their own bpffs pins" \
    test -e "$(labvar "$A" LAB_PINS)/lb/eth0" -a -e "$(labvar "$B" LAB_PINS)/lb/eth0"
check "lab $A is whole with lab $B up" whole "$A"
check "lab $B is whole with lab $A up" whole "$B"
check "lab $A forwards through its VIP" answers "$A"
check "lab $B forwards through its VIP" answers "$B"

lab "$A" down >/dev/null
check "lab $A is gone after its down" lab_gone "$A"
check "lab $B is still whole" whole "$B"
check "lab $B still forwards" answers "$B"

echo "labs.sh: $failures check(s) failed"
[ "$failures" = 0 ]
