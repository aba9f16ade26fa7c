#!/bin/bash
# One source of truth (root): sluiced without a fast path, driven by
# sluicectl. A reload or apply never silently undoes a runtime change or
# empties the running state (refused with the list, exit 1, counted in
# /metrics, logged with the full path); --force does it and says what it
# undid; --dry-run and diff change nothing; sluiced --check-config
# validates without touching anything; the base survives a restart.
# Everything it starts is removed by pid on exit.
set -euo pipefail

BUILD=$(cd "${1:?usage: apply.sh BUILD_DIR}" && pwd)
if [ "$(id -u)" != 0 ]; then
    echo "apply.sh: skipped: needs root (the API socket serves root only)"
    exit 77
fi

# A long directory name: errors must name it whole, not its last 31 bytes.
TMP=$(mktemp -d /tmp/sluice-apply-a-directory-name-longer-than-thirty-one-bytes.XXXXXX)
SOCK=$TMP/sluiced.sock
CONF=$TMP/sluice.conf
PID=
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../check.sh
. "$HERE/../check.sh"

cleanup() {
    if [ "$failures" != 0 ] && [ -f "$TMP/sluiced.log" ]; then
        echo "--- sluiced log"
        cat "$TMP/sluiced.log"
    fi
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

ctl() { "$BUILD/controlplane/sluicectl" --socket "$SOCK" "$@"; }
# run COMMAND...: its output (both streams) in $out, its status in $code.
run() { set +e; out=$("$@" 2>&1); code=$?; set -e; }
rc() { run "$@"; return $code; }

METRICS_PORT=$((20000 + $$ % 20000))
start_sluiced() {
    "$BUILD/controlplane/sluiced" --foreground --no-fastpath --config "$CONF" \
        --state "$TMP/state.conf" --socket "$SOCK" --metrics "127.0.0.1:$METRICS_PORT" \
        2>>"$TMP/sluiced.log" &
    PID=$!
    for _ in $(seq 100); do
        ready ctl && return 0
        sleep 0.05
    done
    echo "sluiced did not come up:"; cat "$TMP/sluiced.log"
    return 1
}
stop_sluiced() { kill -TERM "$PID"; wait "$PID" || true; PID=; }
metric() {
    curl -s --max-time 2 "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v k="$1" '$1 == k {print $2}'
}
# /metrics is re-rendered every second: wait for the value.
metric_is() { [ "$(metric "$1")" = "$2" ]; }
vips() { ctl vip list | tail -n +2 | awk '{print $1}' | sort | tr '\n' ' '; }

cat > "$CONF" <<'EOF'
# the demo's file
node set --encap-source 192.0.2.10
vip add 10.100.0.1:80/tcp
backend add 10.100.0.1:80/tcp 10.200.0.11
backend add 10.100.0.1:80/tcp 10.200.0.12
EOF

# --- check-config -----------------------------------------------------------
check "--check-config accepts a valid file" rc "$BUILD/controlplane/sluiced" --check-config "$CONF"
check "--check-config says what it holds: $out" grep -q "ok: 1 VIPs, 2 backends" <<< "$out"
printf 'vip add 10.100.0.9:80/tcp\nbackend add 10.100.0.9:80/tcp 10.200.0.1 --weight lots\n' > "$TMP/bad.conf"
run "$BUILD/controlplane/sluiced" --check-config "$TMP/bad.conf"
check "--check-config refuses a bad file (exit 1)" \
    test "$code" = 1
check "... naming the full path and the line: $out" grep -qF "$TMP/bad.conf:2" <<< "$out"
# The balancer's own address as a backend: refused by --check-config as
# by the apply itself (in a namespace of our own that has the address).
NS=sluice-apply-$$
ip netns add "$NS"
trap 'ip netns del "$NS" 2>/dev/null || true; cleanup' EXIT
ip -n "$NS" link add dummy0 type veth peer name dummy1
ip -n "$NS" link set dummy0 up
ip -n "$NS" addr add 10.77.0.1/24 dev dummy0
printf 'vip add 10.100.0.9:80/tcp\nbackend add 10.100.0.9:80/tcp 10.77.0.1\n' > "$TMP/local.conf"
run nsenter --net="/run/netns/$NS" "$BUILD/controlplane/sluiced" --check-config "$TMP/local.conf"
check "--check-config refuses this host's own address as a backend (exit 1)" test "$code" = 1
check "... saying so: $out" grep -q "local" <<< "$out"
run "$BUILD/controlplane/sluiced" --check-config "$TMP/local.conf"
check "... which elsewhere is a fine backend" test "$code" = 0
run "$BUILD/controlplane/sluiced" --check-config "$TMP/none.conf"
check "--check-config on a missing file (exit 1)" \
    test "$code" = 1

start_sluiced
check "the first start loads the config" test "$(vips)" = "10.100.0.1:80/tcp "

# --- a reload never undoes a runtime change silently (the demo's case) -------
ctl vip add 10.100.0.2:80/tcp
ctl backend add 10.100.0.2:80/tcp 10.200.0.21
ctl backend set 10.100.0.1:80/tcp 10.200.0.12 --drain
run ctl reload
check "reload with runtime changes is refused (exit 1)" test "$code" = 1
check "... saying why, with the full path: $(tail -1 <<< "$out")" \
    grep -qF "$CONF would undo 3 change(s) made at runtime" <<< "$out"
check "... listing what it would undo" \
    grep -qF -- "- vip add 10.100.0.2:80/tcp    # changed at runtime" <<< "$out"
check "... and nothing was lost" test "$(vips)" = "10.100.0.1:80/tcp 10.100.0.2:80/tcp "
drained_12() { ctl backend list 10.100.0.1:80/tcp | grep 10.200.0.12 | grep -q draining; }
check "... drain kept" drained_12
check "rejected reloads are counted" eventually 3 metric_is 'sluice_config_applies_total{result="rejected"}' 1
check "... in config_changes_total too" eventually 3 metric_is 'sluice_config_changes_total{result="rejected"}' 1
check "... and the last one is flagged failed" eventually 3 metric_is sluice_config_last_apply_successful 0
kill -HUP "$PID"
check "SIGHUP is refused the same way, logged with the full path" \
    eventually 5 grep -qF "SIGHUP reload of $CONF: refused" "$TMP/sluiced.log"
check "SIGHUP lost nothing" test "$(vips)" = "10.100.0.1:80/tcp 10.100.0.2:80/tcp "
last_refused() { ctl status | grep last_apply | grep -q refused; }
check "status tells the last outcome" last_refused

# --- diff and dry runs change nothing -----------------------------------------
run ctl diff "$CONF"
check "diff against the config shows differences (exit 1)" test "$code" = 1
check "... as config lines" grep -qF -- "+ backend add 10.100.0.1:80/tcp 10.200.0.12" <<< "$out"
ctl save > "$TMP/running.conf"
run ctl diff "$TMP/running.conf"
check "diff against the saved running state: none (exit 0)" \
    test "$code" = 0
run ctl diff "$TMP/bad.conf"
check "diff of an invalid file is trouble (exit 2)" test "$code" = 2
run ctl reload --dry-run
check "reload --dry-run is refused too (it would need --force)" \
    test "$code" = 1
check "reload --dry-run --force lists without applying" rc ctl reload --dry-run --force
check "... saying so" grep -q "nothing changed" <<< "$out"
check "... and nothing changed" test "$(vips)" = "10.100.0.1:80/tcp 10.100.0.2:80/tcp "

# --- an empty file ----------------------------------------------------------------
ctl apply "$TMP/running.conf" >/dev/null
check "applying the saved state: now the base" rc ctl diff "$TMP/running.conf"
echo "# nothing here" > "$TMP/empty.conf"
run ctl apply "$TMP/empty.conf"
check "an empty file is refused (exit 1)" test "$code" = 1
check "... saying it would remove every VIP: $out" grep -q "removes every VIP (2)" <<< "$out"
check "... and nothing was removed" test "$(vips)" = "10.100.0.1:80/tcp 10.100.0.2:80/tcp "

# --- a relative path, a file edited with a change nobody made at runtime ----------
cp "$TMP/running.conf" "$TMP/next.conf"
echo "backend add 10.100.0.2:80/tcp 10.200.0.22 --weight 5" >> "$TMP/next.conf"
check "apply of a plain file change (relative path) succeeds" \
    bash -c "cd '$TMP' && '$BUILD/controlplane/sluicectl' --socket '$SOCK' apply next.conf > apply.out"
check "... printing what changed" grep -qF "+ backend add 10.100.0.2:80/tcp 10.200.0.22 --weight 5" "$TMP/apply.out"
check "... and how many" grep -qF "1 change(s) applied from $TMP/next.conf" "$TMP/apply.out"
check "applied ones are counted" eventually 3 metric_is 'sluice_config_applies_total{result="applied"}' 2
check "... and the last one is flagged good" eventually 3 metric_is sluice_config_last_apply_successful 1

# --- the base survives a restart ------------------------------------------------------
ctl backend set 10.100.0.2:80/tcp 10.200.0.22 --weight 6
stop_sluiced
start_sluiced
weight_6() { ctl backend list 10.100.0.2:80/tcp | grep 10.200.0.22 | grep -q ' 6 '; }
check "a restart keeps the runtime change" weight_6
check "... and tells that the running state differs from the config" \
    grep -q "differs from $CONF" "$TMP/sluiced.log"
run ctl apply "$TMP/next.conf"
check "after a restart, applying next.conf again is refused (it undoes the weight)" \
    test "$code" = 1
check "... naming exactly that change" grep -qF -- "+ backend add 10.100.0.2:80/tcp 10.200.0.22 --weight 5    # changed at runtime" <<< "$out"

# --- a multi-command request: all or nothing ------------------------------------------
printf '%s\n' 'vip add 10.100.0.3:80/tcp' 'backend add 10.100.0.3:80/tcp 10.200.0.31' \
    'backend add 10.100.0.9:80/tcp 10.200.0.91' > "$TMP/batch-bad"
run ctl batch "$TMP/batch-bad"
check "a batch with a bad change is refused (exit 1)" test "$code" = 1
check "... naming which: $out" grep -q "request 3 of 3" <<< "$out"
check "... and none of it applied" test "$(vips)" = "10.100.0.1:80/tcp 10.100.0.2:80/tcp "
printf '%s\n' 'vip add 10.100.0.3:80/tcp' 'backend add 10.100.0.3:80/tcp 10.200.0.31' \
    '# a comment' 'backend add 10.100.0.3:80/tcp 10.200.0.32' > "$TMP/batch-good"
run ctl batch < "$TMP/batch-good"
check "a batch from stdin is applied whole: $out" grep -q "3 change(s) applied as one batch" <<< "$out"
check "... all of it" test "$(ctl backend list 10.100.0.3:80/tcp | tail -n +2 | wc -l)" = 2
printf 'vip add 10.100.0.4:80/tcp\nbackend frob x\n' > "$TMP/batch-typo"
run ctl batch "$TMP/batch-typo"
check "a batch with a bad line is refused before sending (exit 2)" test "$code" = 2
check "... naming the line: $out" grep -qF "$TMP/batch-typo:2" <<< "$out"

# --- --force ------------------------------------------------------------------------
check "reload --force applies the config" rc ctl reload --force
check "... printing what it undid" grep -qF -- "- vip add 10.100.0.2:80/tcp" <<< "$out"
check "... the batch's VIP included" grep -qF -- "- vip add 10.100.0.3:80/tcp" <<< "$out"
check "... the running state is the config" test "$(vips)" = "10.100.0.1:80/tcp "
check "... and a reload now has nothing to do" rc ctl reload
check "... saying so: $out" grep -q "no change" <<< "$out"
run ctl apply "$TMP/bad.conf"
check "a bad config: reload exits 1 with file:line" test "$code" = 1
check "... $out" grep -qF "$TMP/bad.conf:2" <<< "$out"

# --- a big apply lists the first 1,000 changes and counts the rest -------------------
{ cat "$CONF"; echo "vip add 10.100.0.5:80/tcp"
  for i in $(seq 1 1100); do echo "backend add 10.100.0.5:80/tcp 10.201.$((i / 250)).$((i % 250 + 1))"; done
} > "$TMP/big.conf"
run ctl apply "$TMP/big.conf"
check "a big apply succeeds" test "$code" = 0
check "... listing 1,000 changes" test "$(grep -c '^+ ' <<< "$out")" = 1000
check "... and counting the rest" grep -q "and 101 more change(s), not listed" <<< "$out"
check "... all applied" grep -q "1101 change(s) applied" <<< "$out"

stop_sluiced
echo "apply.sh: $failures check(s) failed"
[ "$failures" = 0 ]
