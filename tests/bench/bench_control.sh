#!/bin/bash
# Control-plane benchmark (issue 3, "Benchmark"; docs/measuring.md,
# "Control plane"): a real sluiced on a veth in a private network
# namespace, pins in a private bpffs directory, 100 VIPs x 100 backends
# (M = 65537), driven through its API by tests/bench/bench_api. Prints
# figures, asserts nothing; every wait is bounded; everything it starts is
# removed on exit (by pid, and by the unique names of its netns, pin
# directory and temp directory).
#
# Usage: bench_control.sh BUILD_DIR [-n RUNS] [-d DRAIN_RUNS]
#   RUNS        start-up and SIGHUP runs (default 5, at least 5)
#   DRAIN_RUNS  calls each way, drain and undrain alternating (default 20,
#               at least 20)
# Needs root (netns, XDP, bpffs).
set -euo pipefail

BUILD=${1:?usage: bench_control.sh BUILD_DIR [-n RUNS] [-d DRAIN_RUNS]}
shift
RUNS=5
DRAIN_RUNS=20
while getopts "n:d:" o; do
    case $o in
        n) RUNS=$OPTARG ;;
        d) DRAIN_RUNS=$OPTARG ;;
        *) echo "usage: bench_control.sh BUILD_DIR [-n RUNS] [-d DRAIN_RUNS]" >&2; exit 2 ;;
    esac
done
[ "$RUNS" -ge 5 ] || RUNS=5
[ "$DRAIN_RUNS" -ge 20 ] || DRAIN_RUNS=20

if [ "$(id -u)" != 0 ]; then
    echo "bench_control.sh: needs root (netns, XDP, bpffs): not run" >&2
    exit 1
fi
BUILD=$(cd "$BUILD" && pwd)
SLUICED=$BUILD/controlplane/sluiced
CTL=$BUILD/controlplane/sluicectl
API=$BUILD/tests/bench/bench_api
for b in "$SLUICED" "$CTL" "$API"; do
    if [ ! -x "$b" ]; then
        echo "bench_control.sh: $b was not built: not run" >&2
        exit 1
    fi
done

NV=100          # VIPs
NB=100          # backends per VIP
RING=65537
NS=sluice-bench-$$
TMP=$(mktemp -d /tmp/sluice-bench.XXXXXX)
PIN=/sys/fs/bpf/sluice-bench-$$
SOCK=$TMP/sluiced.sock
CONF=$TMP/sluice.conf
STATE=$TMP/state.conf
LOG=$TMP/sluiced.log
PID=
CHURN_PID=

cleanup() {
    local rc=$?
    [ -n "$CHURN_PID" ] && kill "$CHURN_PID" 2>/dev/null && wait "$CHURN_PID" 2>/dev/null
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    # A sluiced that bench_api started and that outlived it (it also
    # dies with bench_api: PR_SET_PDEATHSIG).
    if [ -f "$TMP/start.pid" ]; then
        local p
        p=$(cat "$TMP/start.pid")
        if [ -n "$p" ] && grep -qF "$SOCK" "/proc/$p/cmdline" 2>/dev/null; then
            kill -KILL "$p" 2>/dev/null || true
        fi
    fi
    if [ "$rc" != 0 ] && [ -f "$LOG" ]; then
        echo "--- sluiced log (last 30 lines)"
        tail -30 "$LOG"
    fi
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$PIN" "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# nsenter --net, not `ip netns exec`: the latter remounts /sys, which hides
# the bpffs at /sys/fs/bpf and so the pins a restart must find.
nsx() { nsenter --net="/run/netns/$NS" "$@"; }
ctl() { "$CTL" --socket "$SOCK" "$@"; }   # a Unix socket: no netns needed
# Every bench_api call is bounded twice: by its own timeouts and by this.
api() { timeout 300 "$API" "$@"; }
nsapi() { nsx timeout 300 "$API" "$@"; }

# min median max of the numbers on stdin, one per line.
mmm() { sort -g | awk -v f="${1:-%.1f}" '{v[NR] = $1} END {
    if (!NR) { print "- - -"; exit }
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf f " " f " " f "\n", v[1], m, v[NR] }'; }
# The value of key=... in a line.
kv() { sed -n "s|.*\\b$1=\\([^ ]*\\).*|\\1|p"; }

# --- the namespace: veth0 with backends one router away ---------------------
# 10.0.0.0/16 via a permanently resolved next hop: the backends' next hops
# resolve (as behind a real router) without 10,000 ARP probes.
ip netns add "$NS"
nsx ip link set lo up
nsx ip link add veth0 type veth peer name veth1
nsx ip link set veth0 up
nsx ip link set veth1 up
nsx ip addr add 10.1.0.1/24 dev veth0
nsx ip neigh replace 10.1.0.254 lladdr 02:00:00:00:00:fe nud permanent dev veth0
nsx ip route add 10.0.0.0/16 via 10.1.0.254 dev veth0

# --- the config: NV VIPs 10.100.X.1:80/tcp, NB backends 10.0.X.B each ----------
{
    echo "# bench_control.sh: $NV VIPs x $NB backends"
    echo "node set --interface veth0 --encap-source 10.1.0.1"
    for ((x = 0; x < NV; x++)); do
        echo "vip add 10.100.$x.1:80/tcp --ring $RING"
        for ((b = 1; b <= NB; b++)); do
            echo "backend add 10.100.$x.1:80/tcp 10.0.$x.$b"
        done
    done
} > "$CONF"
LIMITS=(--max-vips 128 --max-backends 10240 --max-ring $RING)
SLUICED_ARGS=(--foreground --config "$CONF" --socket "$SOCK" --pin-root "$PIN" "${LIMITS[@]}")

echo "sluiced on veth0 in netns $NS: $NV VIPs x $NB backends, M=$RING ($(wc -l < "$CONF") config lines); $(nproc) CPUs"
echo

# --- 1. start-up: process start -> API answering with all VIPs -----------------
# Rounds interleave two cases:
#   cold      no pins, no state file: load + verify the XDP program, create
#             maps, attach, parse the config, build 100 rings, push 10,000
#             backends (each with its next hop from rtnetlink), then the API
#   restart   the same config with the previous run's pins in place: the
#             pinned program and maps are adopted instead of loaded
# (--no-fastpath would time parse + model + rings alone, but sluiced then
# keeps fwd.h's default limits whatever --max-backends says, and 10,000
# backends do not fit in 4096; bench_api parts below times those in-process.)
# Times are from just before fork() in bench_api; the "fastpath" and
# "loaded" marks are when sluiced's own log lines reached bench_api
# ("serving" may be stamped late: bench_api reads the log only between
# its calls, and the first call it makes once the socket exists waits for
# the answer). The API socket opens right after "loaded".
echo "== start-up ($RUNS rounds of cold / restart)"
: > "$TMP/cold" ; : > "$TMP/restart"
for ((i = 1; i <= RUNS; i++)); do
    rm -f "$STATE"
    nsapi start -s "$SOCK" -n $NV -l "$LOG" -P "$TMP/start.pid" -k -- \
        "$SLUICED" "${SLUICED_ARGS[@]}" --state "$STATE" >> "$TMP/cold"
    nsapi start -s "$SOCK" -n $NV -l "$LOG" -P "$TMP/start.pid" -- \
        "$SLUICED" "${SLUICED_ARGS[@]}" --state "$STATE" >> "$TMP/restart"
    # detach unpinned everything; a leftover would turn the next cold
    # run into a restart.
    if [ -n "$(find "$PIN" -mindepth 1 -print -quit 2>/dev/null)" ]; then
        echo "bench_control.sh: pins left after detach; removing" >&2
        rm -rf "${PIN:?}"/*
    fi
done
for c in cold restart; do
    echo "$c: $(tr '\n' ';' < "$TMP/$c")"
done
read -r COLD_MIN COLD_MED COLD_MAX < <(kv api_ms < "$TMP/cold" | mmm)
read -r COLD_FP_MIN COLD_FP_MED COLD_FP_MAX < <(kv fastpath_ms < "$TMP/cold" | mmm)
read -r COLD_CFG_MIN COLD_CFG_MED COLD_CFG_MAX < <(awk '{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    print v["loaded_ms"] - v["fastpath_ms"] }' "$TMP/cold" | mmm)
gap() { awk '{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    print v["api_ms"] - v["loaded_ms"] }' "$1" | mmm; }
read -r COLD_GAP_MIN COLD_GAP_MED COLD_GAP_MAX < <(gap "$TMP/cold")
read -r RE_GAP_MIN RE_GAP_MED RE_GAP_MAX < <(gap "$TMP/restart")
read -r RE_MIN RE_MED RE_MAX < <(kv api_ms < "$TMP/restart" | mmm)
read -r RE_FP_MIN RE_FP_MED RE_FP_MAX < <(kv fastpath_ms < "$TMP/restart" | mmm)
echo

# --- the long-running sluiced for everything else -------------------------------------
rm -f "$STATE"
nsenter --net="/run/netns/$NS" "$SLUICED" "${SLUICED_ARGS[@]}" --state "$STATE" 2>>"$LOG" &
PID=$!
up=0
for _ in $(seq 600); do
    if [ "$(ctl --json status 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["vips"])' 2>/dev/null)" = $NV ]; then
        up=1
        break
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
done
if [ "$up" != 1 ]; then
    echo "bench_control.sh: sluiced did not come up with $NV VIPs" >&2
    exit 1
fi

# --- 2. SIGHUP: one backend's weight changed in the file ------------------------------
echo "== SIGHUP: one weight changed in the file -> backend list shows it ($RUNS runs)"
HUP_VIP=10.100.7.1:80/tcp
HUP_BE=10.0.7.9
HUP=$(api hup -s "$SOCK" -p "$PID" -c "$CONF" -v $HUP_VIP -b $HUP_BE -n "$RUNS")
echo "$HUP"
echo

# --- 3. drain: sluicectl backend set --drain -> ring live in the map -----------------------
DR_VIP=10.100.42.1:80/tcp
DR_BE=10.0.42.17
VIP_ID=$(ctl --json vip list | python3 -c '
import json, sys
print([v["id"] for v in json.load(sys.stdin)["vips"] if v["vip"] == sys.argv[1]][0])' $DR_VIP)
BE_ID=$(ctl --json backend list $DR_VIP | python3 -c '
import json, sys
print([b["id"] for b in json.load(sys.stdin)["backends"] if b["backend"] == sys.argv[1]][0])' $DR_BE)
META_PIN=$(find "$PIN" -name vip_meta | head -1)
RINGS_PIN=$(find "$PIN" -name rings | head -1)
echo "== drain / undrain of $DR_BE (backend id $BE_ID) in $DR_VIP (VIP id $VIP_ID), $DRAIN_RUNS calls each way"
# The API call (fresh connection per call, as sluicectl), with a thread
# spinning on the mmap()ed pinned vip_meta to see the ring word flip, and
# the live ring row read back from the pinned rings map after every call.
DRAIN=$(api drain -s "$SOCK" -v $DR_VIP -b $DR_BE -m "$META_PIN" -r "$RINGS_PIN" \
    -i "$VIP_ID" -B "$BE_ID" -n $((2 * DRAIN_RUNS)))
echo "$DRAIN"
# The same through the sluicectl process (fork + exec + connect + call).
: > "$TMP/cli"
D0=$(ctl ring digest $DR_VIP | awk '{print $3}')
for ((i = 0; i < 2 * DRAIN_RUNS; i++)); do
    if [ $((i % 2)) = 0 ]; then flag=--drain; else flag=--undrain; fi
    t0=$(date +%s%N)
    ctl backend set $DR_VIP $DR_BE $flag
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000)) >> "$TMP/cli"
    if [ "$i" = 0 ]; then D1=$(ctl ring digest $DR_VIP | awk '{print $3}'); fi
done
read -r CLI_MIN CLI_MED CLI_MAX < <(mmm %.0f < "$TMP/cli")
echo "sluicectl backend set --drain/--undrain wall us: min=$CLI_MIN median=$CLI_MED max=$CLI_MAX runs=$((2 * DRAIN_RUNS))"
# The sluicectl process itself: `status` costs the daemon ~50 us.
: > "$TMP/cli_status"
for ((i = 0; i < DRAIN_RUNS; i++)); do
    t0=$(date +%s%N)
    ctl status > /dev/null
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000)) >> "$TMP/cli_status"
done
read -r CLIS_MIN CLIS_MED CLIS_MAX < <(mmm %.0f < "$TMP/cli_status")
echo "sluicectl status wall us: min=$CLIS_MIN median=$CLIS_MED max=$CLIS_MAX runs=$DRAIN_RUNS"
# The floor of both: any process, timed the same way.
: > "$TMP/true"
for ((i = 0; i < DRAIN_RUNS; i++)); do
    t0=$(date +%s%N)
    /bin/true
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000)) >> "$TMP/true"
done
read -r TRUE_MIN TRUE_MED TRUE_MAX < <(mmm %.0f < "$TMP/true")
echo "/bin/true wall us: min=$TRUE_MIN median=$TRUE_MED max=$TRUE_MAX runs=$DRAIN_RUNS"
echo "ring digest (model): $D0 -> drained $D1 -> undrained $(ctl ring digest $DR_VIP | awk '{print $3}')"
echo

# --- 4. API calls per second ---------------------------------------------------------------
echo "== API calls/s (5 rounds, case order rotating; status 0.3 s, backend.set 0.6 s per case)"
RATE=$(api rate -s "$SOCK" -v $DR_VIP -b $DR_BE -t 0.3 -R 5 -w 32)
echo "$RATE"
echo "-- pipelined burst: N status requests written at once, then read"
BURST=""
for n in 500 1000 2000 4000; do
    BURST+="$(api burst -s "$SOCK" -N $n)"$'\n'
done
printf '%s' "$BURST"
echo "-- status ping-pong for 6 s (sluiced re-resolves every backend's next hop every 5 s)"
STALL=$(api stall -s "$SOCK" -t 6)
echo "$STALL"
echo "-- the same for 5 s while an unrelated neighbour entry (no backend's next hop) changes 10 times/s"
(
    for ((i = 0; i < 50; i++)); do
        nsx ip neigh replace 10.1.0.$((100 + i)) lladdr 02:00:00:00:01:$(printf %02x $i) \
            nud permanent dev veth0
        sleep 0.1
    done
) &
CHURN_PID=$!
CHURN=$(api stall -s "$SOCK" -t 5)
wait "$CHURN_PID" || true
CHURN_PID=
echo "$CHURN"
STATUS_JSON=$(ctl --json status)
RB_NS=$(echo "$STATUS_JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["last_rebuild_ns"])')
STATE_BYTES=$(stat -c %s "$STATE" 2>/dev/null || echo 0)
echo

# --- 5. in-process parts (no daemon) --------------------------------------------------------
echo "== in-process parts of a change, same config (bench_api parts, 5 runs; backend.set x4 per run)"
PARTS=$(api parts -c "$CONF" -d "$TMP" -v $DR_VIP -b $DR_BE -n 5)
echo "$PARTS"
echo

# --- table ------------------------------------------------------------------------------------
med() { echo "$1" | grep -- "$2" | kv median; }
mx() { echo "$1" | grep -- "$2" | kv "$3"; }
rate_line() { echo "$RATE" | grep -- "$1" | grep -- "$2"; }
r3() { local l; l=$(rate_line "$1" "$2"); printf '%s / %s / %s' "$(echo "$l" | kv min)" "$(echo "$l" | kv median)" "$(echo "$l" | kv max)"; }
m3() { printf '%s / %s / %s' "$(mx "$1" "$2" min)" "$(mx "$1" "$2" median)" "$(mx "$1" "$2" max)"; }
b() { echo "$BURST" | grep "count=$1 " | kv us/call; }

PARSE=$(med "$PARTS" parse_ms); APPLY=$(med "$PARTS" apply_ms)
CHG=$(med "$PARTS" change_us); RINGUS=$(med "$PARTS" ring_us)
FMT=$(med "$PARTS" format_us); IO=$(med "$PARTS" io_us); SAVE=$(med "$PARTS" save_us)
GRACE=$(med "$PARTS" grace_us)
BUILDUS=$(med "$PARTS" build_us); DIGUS=$(med "$PARTS" digest_us)
FMTF=$(awk -v a="$SAVE" -v b="$IO" 'BEGIN { printf "%.0f", a - b }')
RINGS_MS=$(awk -v a="$BUILDUS" -v b="$DIGUS" -v n=$NV 'BEGIN { printf "%.0f", (a + b) * n / 1000 }')
FLIP=$(med "$DRAIN" drain_flip_us); TAIL=$(med "$DRAIN" drain_tail_us)
STALL_MAX=$(echo "$STALL" | kv max_ms)

echo "== summary ($NV VIPs x $NB backends, M=$RING; min / median / max)"
printf '%-46s %-26s %s\n' "what" "min / median / max" "unit"
printf '%-46s %-26s %s\n' "start, cold: exec -> API with $NV VIPs" "$COLD_MIN / $COLD_MED / $COLD_MAX" "ms"
printf '%-46s %-26s %s\n' "  of which XDP load+verify+maps (log mark)" "$COLD_FP_MIN / $COLD_FP_MED / $COLD_FP_MAX" "ms"
printf '%-46s %-26s %s\n' "  of which attach + apply config (log marks)" "$COLD_CFG_MIN / $COLD_CFG_MED / $COLD_CFG_MAX" "ms"
printf '%-46s %-26s %s\n' "  of which 'loaded' -> first answer" "$COLD_GAP_MIN / $COLD_GAP_MED / $COLD_GAP_MAX" "ms"
printf '%-46s %-26s %s\n' "start, restart adopting pins" "$RE_MIN / $RE_MED / $RE_MAX" "ms"
printf '%-46s %-26s %s\n' "  of which adopt pinned program (log mark)" "$RE_FP_MIN / $RE_FP_MED / $RE_FP_MAX" "ms"
printf '%-46s %-26s %s\n' "  of which 'loaded' -> first answer" "$RE_GAP_MIN / $RE_GAP_MED / $RE_GAP_MAX" "ms"
printf '%-46s %-26s %s\n' "SIGHUP (1 weight) -> backend list shows it" "$(m3 "$HUP" hup_ms)" "ms"
printf '%-46s %-26s %s\n' "drain: API call wall (fresh conn)" "$(m3 "$DRAIN" drain_call_us)" "us"
printf '%-46s %-26s %s\n' "  send -> ring word flipped in pinned map" "$(m3 "$DRAIN" drain_flip_us)" "us"
printf '%-46s %-26s %s\n' "  flip -> reply (grace, persist, answer)" "$(m3 "$DRAIN" drain_tail_us)" "us"
printf '%-46s %-26s %s\n' "drain: sluicectl process wall" "$CLI_MIN / $CLI_MED / $CLI_MAX" "us"
printf '%-46s %-26s %s\n' "status: sluicectl process wall" "$CLIS_MIN / $CLIS_MED / $CLIS_MAX" "us"
printf '%-46s %-26s %s\n' "  floor: /bin/true process wall" "$TRUE_MIN / $TRUE_MED / $TRUE_MAX" "us"
printf '%-46s %-26s %s\n' "status, fresh connection per call" "$(r3 status fresh)" "calls/s"
printf '%-46s %-26s %s\n' "status, one connection ping-pong" "$(r3 status ping-pong)" "calls/s"
printf '%-46s %-26s %s\n' "status, one connection pipelined (32)" "$(r3 status pipelined)" "calls/s"
printf '%-46s %-26s %s\n' "backend.set --weight, fresh connection" "$(r3 backend.set fresh)" "calls/s"
printf '%-46s %-26s %s\n' "backend.set --weight, ping-pong" "$(r3 backend.set ping-pong)" "calls/s"
printf '%-46s %-26s %s\n' "backend.set --weight, pipelined (32)" "$(r3 backend.set pipelined)" "calls/s"
printf '%-46s %-26s %s\n' "status burst us/call, N=500/1000/2000/4000" "$(b 500) / $(b 1000) / $(b 2000) / $(b 4000)" "us"
printf '%-46s %-26s %s\n' "API stall, worst status call in 6 s" "$STALL_MAX" "ms"
printf '%-46s %-26s %s\n' "status ping-pong, 10 neighbour changes/s" "$(awk -v n="$(echo "$CHURN" | kv calls)" 'BEGIN { printf "%.0f", n / 5 }')" "calls/s"
printf '%-46s %-26s %s\n' "  worst call / median call" "$(echo "$CHURN" | kv max_ms) / $(echo "$CHURN" | kv median_us | awk '{ printf "%.3f", $1 / 1000 }')" "ms"
echo
echo "What dominates (medians of this run; in-process figures from bench_api parts):"
echo "- cold start: exec -> 'fast path loaded' ($COLD_FP_MED ms) is libbpf loading the program"
echo "  (verifier) and creating the maps; attach + apply ($COLD_CFG_MED ms) is mostly the $NV rings:"
echo "  lb_maglev_build $BUILDUS us + lb_maglev_digest $DIGUS us each (~$RINGS_MS ms),"
echo "  then parse ($PARSE ms) and 10,000 backend pushes, each"
echo "  with rtnetlink route + link + neighbour requests. In-process parse + apply: $(awk -v a="$PARSE" -v b="$APPLY" 'BEGIN { print a + b }') ms."
echo "  'loaded' -> first answer ($COLD_GAP_MED ms cold, $RE_GAP_MED ms restart): the API is"
echo "  served at once; next hops are re-resolved in slices of 32 between API events."
echo "- a change (drain, weight): send -> ring live (flip) $FLIP us = validate + Maglev build +"
echo "  digest + copy of the ring into the idle half (in-process change: $CHG us); flip -> reply"
echo "  $TAIL us = grace period ($GRACE us, one ARRAY_OF_MAPS update) + persisting all"
echo "  $STATE_BYTES bytes of state: cp_state_save $SAVE us, of which write + fsync + rename +"
echo "  fsync of the directory $IO us and formatting 10,101 lines the rest (~$FMTF us). So at"
echo "  100 x 100 changes run at ~$(rate_line backend.set ping-pong | kv median)/s whatever the client does (pipelining"
echo "  helps nothing), and persisting costs $(awk -v a="$SAVE" -v b="$BUILDUS" -v c="$DIGUS" 'BEGIN { printf "%.1f", a / (b + c) }')x the ring work. sluicectl adds its"
echo "  own process (status through sluicectl: $CLIS_MED us against ~50 us in the daemon; a"
echo "  bare fork + exec of /bin/true: $TRUE_MED us here)."
echo "- noise: a round or call that a 5 s next-hop refresh (below) lands in shows as a min"
echo "  calls/s or a max time far from the median; the medians are the figures."
echo "- SIGHUP: parse the whole file ($PARSE ms) + diff + one ring + persist."
echo "- status: the API round trip (epoll, jansson); a fresh connection adds connect/accept"
echo "  and a 1 MiB input buffer malloc'ed per client; pipelining amortises the wake-ups;"
echo "  replies go to a doubling buffer, so a burst costs the same per call at any N."
echo "- stalls: one thread. Every 5 s, and on every link / neighbour / route notification,"
echo "  sluiced re-resolves all 10,000 backends (3 rtnetlink requests each), 32 at a time"
echo "  between API events: the worst status call waited ~$STALL_MAX ms. Under 10 unrelated"
echo "  neighbour changes/s the refresh runs back to back: each event still triggers a full"
echo "  round (it does not yet tell which next hop changed)."
