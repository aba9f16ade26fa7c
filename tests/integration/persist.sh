#!/bin/bash
# Persistence that never lies (root): sluiced (no fast path, in a private
# network namespace for its metrics port) with its state file on a small
# tmpfs that the test fills up.
#  - a change on a full disk is live, answered "applied, not persisted"
#    (sluicectl exit 4, ENOSPC and the full path named), counted in the
#    metrics and status, logged once, kept in the fallback file, retried;
#  - space freed: written within the retry bound, gauge back to 0;
#  - a restart while the state file is behind starts from the fallback
#    and says so; without the fallback (a reboot) it refuses, naming the
#    files and --start-from, which then starts from the file named;
#  - a truncated state file, or one with garbage on a line, refuses the
#    start with file:line and why, naming the .prev copy;
#  - temporaries of killed writers are removed at start, named in the log.
# Every wait is bounded; the mount, the namespace and sluiced are removed
# on every exit path.
set -euo pipefail

BUILD=${1:?usage: persist.sh BUILD_DIR}
if [ "$(id -u)" != 0 ]; then
    echo "persist.sh: skipped: needs root (mount, netns)"
    exit 77
fi
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../check.sh
. "$HERE/../check.sh"

NS=sluice-ps-$$
TMP=$(mktemp -d /tmp/sluice-ps.XXXXXX)
DISK=$TMP/disk
STATE=$DISK/state.conf
PENDING=$TMP/run/state.pending
SOCK=$TMP/sluiced.sock
LOG=$TMP/sluiced.log
PID=
MOUNTED=

cleanup() {
    set +e
    if [ "$failures" != 0 ] && [ -f "$LOG" ]; then
        echo "--- sluiced log"
        cat "$LOG"
    fi
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    [ -n "$MOUNTED" ] && { umount "$DISK" 2>/dev/null || umount -l "$DISK"; }
    ip netns del "$NS" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

nsx() { nsenter --net="/run/netns/$NS" "$@"; }
ctl() { "$BUILD/controlplane/sluicectl" --socket "$SOCK" "$@"; }
metric() { nsx curl -sf --max-time 2 http://127.0.0.1:9109/metrics | awk -v n="$1" '$1 == n {print $2}'; }
sluiced_args=(--foreground --no-fastpath --config "$TMP/none.conf" --state "$STATE"
              --state-fallback "$PENDING" --socket "$SOCK" --metrics 127.0.0.1:9109)

start_sluiced() {   # start_sluiced [EXTRA OPTION]...
    nsenter --net="/run/netns/$NS" "$BUILD/controlplane/sluiced" "${sluiced_args[@]}" "$@" \
        2>>"$LOG" &
    PID=$!
    for _ in $(seq 100); do
        ready ctl && return 0
        sleep 0.05
    done
    echo "sluiced did not come up:"; cat "$LOG"
    return 1
}

stop_sluiced() {   # and it exits cleanly (the sanitizer build's leaks too)
    local rc=0
    kill -TERM "$PID"
    wait "$PID" || rc=$?
    PID=
    check "sluiced exits 0 on SIGTERM" [ "$rc" = 0 ]
}

# refused_start LOGFILE [EXTRA OPTION]...: sluiced exits non-zero (bounded).
refused_start() {
    local log=$1 rc=0
    shift
    timeout 20 nsenter --net="/run/netns/$NS" "$BUILD/controlplane/sluiced" \
        "${sluiced_args[@]}" "$@" 2>"$log" || rc=$?
    cat "$log" >>"$LOG"
    ! grep -q Sanitizer "$log" && [ "$rc" != 0 ] && [ "$rc" != 124 ]
}

fill() { dd if=/dev/zero of="$DISK/fill" bs=4k 2>/dev/null || true; }
unfill() { rm -f "$DISK/fill"; }
has_vip() { ctl vip list | grep -q "$1"; }
unsaved_is() { [ "$(metric sluice_state_unsaved)" = "$1" ]; }
in_file() { grep -q "$1" "$2"; }
status_is() { ctl status | grep -Eq "^$1 +$2\$"; }
count() { grep -c -- "$1" "$LOG" || true; }

ip netns add "$NS"
nsx ip link set lo up
mkdir -p "$DISK"
mount -t tmpfs -o size=256k,mode=0700 sluice-ps "$DISK"
MOUNTED=1

# --- a full disk -------------------------------------------------------------
start_sluiced
check "change on a free disk: exit 0" ctl vip add 10.1.0.1:80/tcp
check "state file has a v2 header" grep -q "^# sluice state v2 generation [0-9]" "$STATE"
check "state file has its trailer" grep -q "^# end: [0-9]* lines$" "$STATE"
fill
rc=0
out=$(ctl vip add 10.1.0.2:80/tcp 2>&1) || rc=$?
check "full disk: sluicectl exits 4 (applied, not persisted)" [ "$rc" = 4 ]
check "full disk: message says applied, not persisted" grep -q "applied, not persisted" <<<"$out"
check "full disk: ENOSPC named" grep -q "No space left on device (ENOSPC)" <<<"$out"
check "full disk: the full path named" grep -qF "state file $STATE:" <<<"$out"
check "full disk: the change is live" has_vip 10.1.0.2:80/tcp
check "full disk: gauge sluice_state_unsaved 1" eventually 5 unsaved_is 1
check "full disk: status says not persisted" status_is state_persisted false
check "full disk: status names ENOSPC" bash -c "'$BUILD/controlplane/sluicectl' --socket '$SOCK' status | grep -q ENOSPC"
check "full disk: running state kept in the fallback" in_file 10.1.0.2 "$PENDING"
check "full disk: state file not changed" bash -c "! grep -q 10.1.0.2 '$STATE'"
# Retries: 1 s then 2 s: at least 3 failures after 3.5 s, logged once.
sleep 3.5
check "full disk: retried (failures counter >= 3)" [ "$(metric sluice_state_write_failures_total)" -ge 3 ]
check "full disk: logged once, not per retry" [ "$(count 'No space left on device (ENOSPC)')" = 1 ]

unfill
# Backoff is at most 4 s here (1, 2, 4); the bound is the 30 s cap.
check "space freed: written within the retry bound" eventually 35 in_file 10.1.0.2 "$STATE"
check "space freed: gauge back to 0" eventually 5 unsaved_is 0
check "space freed: status says persisted" status_is state_persisted true
check "space freed: recovery logged once" [ "$(count 'on disk again')" = 1 ]
check "space freed: fallback removed" [ ! -e "$PENDING" ]
check "space freed: previous copy kept" in_file 10.1.0.1 "$STATE.prev"
check "space freed: last write time exported" [ "$(metric sluice_state_last_write_timestamp_seconds)" -gt 0 ]

# --- restart while the state file is behind: the fallback, loudly -------------
fill
rc=0
ctl vip add 10.1.0.3:80/tcp 2>/dev/null || rc=$?
check "full disk again: exit 4" [ "$rc" = 4 ]
stop_sluiced
start_sluiced
check "restart: started from the fallback and said so" grep -q "STARTING FROM THE FALLBACK $PENDING" "$LOG"
check "restart: the unsaved change is kept" has_vip 10.1.0.3:80/tcp
check "restart: still not on disk, status says so" status_is state_persisted false
unfill
check "restart: written once space is back" eventually 35 in_file 10.1.0.3 "$STATE"

# --- behind, and the fallback gone (a reboot): refuse, then --start-from ------
fill
rc=0
ctl vip add 10.1.0.4:80/tcp 2>/dev/null || rc=$?
check "full disk a third time: exit 4" [ "$rc" = 4 ]
stop_sluiced
rm -f "$PENDING"
unfill
check "behind without fallback: start refused" refused_start "$TMP/behind.log"
check "behind: the message names the state file" grep -qF "cannot start: $STATE (generation" "$TMP/behind.log"
check "behind: the message names the way out" grep -qF -- "--start-from $STATE" "$TMP/behind.log"
start_sluiced --start-from "$STATE"
check "--start-from: started, and said so" grep -q "starting from $STATE (--start-from)" "$LOG"
check "--start-from: the file's state" has_vip 10.1.0.3:80/tcp
check "--start-from: written to the state file" eventually 5 status_is state_persisted true
stop_sluiced
cp "$STATE" "$TMP/good.conf"

# --- a truncated state file ---------------------------------------------------
truncate -s -12 "$STATE"
check "truncated: start refused" refused_start "$TMP/trunc.log"
check "truncated: file:line and why" grep -Eq "$STATE:[0-9]+: truncated" "$TMP/trunc.log"
check "truncated: the previous copy and the option named" \
    grep -qF -- "--start-from $STATE.prev" "$TMP/trunc.log"
start_sluiced --start-from "$STATE.prev"
check "truncated: --start-from the .prev copy starts" has_vip 10.1.0.1:80/tcp
stop_sluiced

# --- garbage on line 5 ----------------------------------------------------------
cp "$TMP/good.conf" "$STATE"
sed -i '5s/.*/garbage words here/' "$STATE"
check "garbage on line 5: start refused" refused_start "$TMP/garbage.log"
check "garbage on line 5: named with its line" grep -qF "$STATE:5: " "$TMP/garbage.log"
check "garbage on line 5: says why" grep -q "garbage" "$TMP/garbage.log"

# --- temporaries of killed writers ----------------------------------------------
cp "$TMP/good.conf" "$STATE"
: >"$STATE.tmp.424242"
: >"$STATE.tmp.424242.prev"
start_sluiced
check "stale .tmp removed at start" [ ! -e "$STATE.tmp.424242" ]
check "stale .tmp.prev removed at start" [ ! -e "$STATE.tmp.424242.prev" ]
check "stale .tmp named in the log" grep -qF "removed $STATE.tmp.424242," "$LOG"
check "good file loads" has_vip 10.1.0.3:80/tcp
stop_sluiced

echo "persist.sh: $failures failure(s)"
[ "$failures" = 0 ]
