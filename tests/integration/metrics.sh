#!/bin/bash
# Metrics integration test (root): sluiced on a veth in a private network
# namespace, a known set of frames through its pinned XDP program, then
#  - /metrics holds exactly the counts those frames must produce;
#  - promtool check metrics accepts the exposition;
#  - a real Prometheus, started in the namespace with the example config
#    scripts/prometheus/prometheus.yml as it is, scrapes sluiced: queries
#    through its HTTP API return the series with the values sent, every
#    Grafana dashboard query evaluates, the alert rules load and the
#    no-healthy-backend alert goes off for the VIP that has none.
# Every wait is bounded; everything started is removed by pid on exit.
set -euo pipefail

BUILD=${1:?usage: metrics.sh BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: metrics.sh BUILD_DIR SOURCE_DIR}
if [ "$(id -u)" != 0 ]; then
    echo "metrics.sh: skipped: needs root (netns, BPF)"
    exit 77
fi
for tool in promtool prometheus curl bpftool; do
    command -v "$tool" >/dev/null || { echo "metrics.sh: $tool missing: run scripts/install-deps.sh"; exit 1; }
done
# shellcheck source=../check.sh
. "$SRC/tests/check.sh"

NS=sluice-mt-$$
TMP=$(mktemp -d /tmp/sluice-mt.XXXXXX)
PIN=/sys/fs/bpf/sluice-mt-$$
SOCK=$TMP/sluiced.sock
PROMCFG=$SRC/scripts/prometheus
PID=
PROM_PID=

cleanup() {
    set +e
    if [ "$failures" != 0 ]; then
        for f in "$TMP/sluiced.log" "$TMP/prometheus.log"; do
            [ -f "$f" ] && { echo "--- $f (last 30 lines)"; tail -n 30 "$f"; }
        done
    fi
    [ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$PIN" "$TMP"
}
trap cleanup EXIT

nsx() { nsenter --net="/run/netns/$NS" "$@"; }
ctl() { nsx "$BUILD/controlplane/sluicectl" --socket "$SOCK" "$@"; }
metrics() { nsx curl -sf --max-time 2 http://127.0.0.1:9109/metrics; }
# promql QUERY: the API's JSON answer for an instant query.
promql() { nsx curl -sf --max-time 5 http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1"; }

# --- a namespace with a veth and three resolved backends -------------------
ip netns add "$NS"
nsx ip link set lo up
nsx ip link add veth0 type veth peer name veth1
# No IPv6 on the pair: its router solicitations would add to the counts.
nsx sysctl -qw net.ipv6.conf.veth0.disable_ipv6=1 net.ipv6.conf.veth1.disable_ipv6=1
nsx ip link set veth0 up
nsx ip link set veth1 up
nsx ip addr add 10.0.0.1/24 dev veth0
# bpf_fib_lookup answers only where the kernel would forward.
nsx sysctl -qw net.ipv4.ip_forward=1
for i in 11 12 13; do
    nsx ip neigh replace 10.0.0.$i lladdr 02:00:00:00:00:$i nud permanent dev veth0
done

cat > "$TMP/sluice.conf" <<CONF
node set --interface veth0 --encap-source 10.0.0.1
vip add 10.100.0.1:80/tcp
backend add 10.100.0.1:80/tcp 10.0.0.11
backend add 10.100.0.1:80/tcp 10.0.0.12
vip add 10.100.0.2:53/udp
backend add 10.100.0.2:53/udp 10.0.0.13
vip add 10.100.0.3:80/tcp
backend add 10.100.0.3:80/tcp 10.0.0.13 --drain
CONF

nsenter --net="/run/netns/$NS" "$BUILD/controlplane/sluiced" --foreground \
    --config "$TMP/sluice.conf" --state "$TMP/state.conf" --socket "$SOCK" --pin-root "$PIN" \
    --max-vips 16 --max-backends 64 --flow-buckets 1024 2>>"$TMP/sluiced.log" &
PID=$!
up() {
    for _ in $(seq 100); do
        ready ctl && metrics >/dev/null && return 0
        sleep 0.05
    done
    return 1
}
check "sluiced answers on its socket and on 127.0.0.1:9109" up

# --- known traffic, counted exactly ----------------------------------------
PROG_PIN=$(find "$PIN" -name prog | head -1)
python3 "$SRC/tests/integration/metrics_traffic.py" "$NS" "$PROG_PIN" "$TMP" > "$TMP/expected.txt"
check "the test frames were sent ($(wc -l < "$TMP/expected.txt") expected samples)" \
    test -s "$TMP/expected.txt"
# The exposition is rendered from a snapshot at most a second old.
all_seen() {
    for _ in $(seq 30); do
        metrics > "$TMP/metrics.txt" || true
        grep -qvxFf "$TMP/metrics.txt" "$TMP/expected.txt" || return 0
        sleep 0.1
    done
    return 1
}
all_seen || true
while read -r line; do
    check "/metrics: $line" grep -qxF "$line" "$TMP/metrics.txt"
done < "$TMP/expected.txt"
forwarded=$(awk '/^sluice_backend_packets_total/ {n += $2} END {print n}' "$TMP/expected.txt")
check "38 frames were forwarded to backends ($forwarded)" test "$forwarded" = 38
stats_drop() { ctl stats | grep -q -- "-> .*dropped 1 (drop_too_big 1)"; }
check "sluicectl stats names the backend's drop and its reason" stats_drop
check "the drained VIP shows no backend up" \
    grep -qxF 'sluice_vip_backends{vip="10.100.0.3:80/tcp",state="up"} 0' "$TMP/metrics.txt"
check "the drained VIP shows one backend draining" \
    grep -qxF 'sluice_vip_backends{vip="10.100.0.3:80/tcp",state="draining"} 1' "$TMP/metrics.txt"
check "build_info names the XDP fast path" \
    grep -q '^sluice_build_info{version="[^"]*",fastpath="xdp",abi="[0-9]*"} 1$' "$TMP/metrics.txt"

promtool_ok() { promtool check metrics < "$TMP/metrics.txt" > "$TMP/promtool.txt" 2>&1; }
check "promtool check metrics accepts the exposition $(cat "$TMP/promtool.txt" 2>/dev/null)" promtool_ok
healthz() { [ "$(nsx curl -s --max-time 2 http://127.0.0.1:9109/healthz)" = ok ]; }
check "/healthz answers ok" healthz

# --- a real Prometheus with the example configuration ---------------------------
# In the namespace, 127.0.0.1:9109 and :9090 are this test's alone.
nsenter --net="/run/netns/$NS" prometheus --config.file="$PROMCFG/prometheus.yml" \
    --storage.tsdb.path="$TMP/prom" --web.listen-address=127.0.0.1:9090 \
    --log.level=warn >"$TMP/prometheus.log" 2>&1 &
PROM_PID=$!
prom_ready() {
    for _ in $(seq 300); do
        nsx curl -sf --max-time 1 http://127.0.0.1:9090/-/ready >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}
check "Prometheus starts with scripts/prometheus/prometheus.yml" prom_ready

# value QUERY: the first sample's value, or nothing.
value() {
    promql "$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}
want_tcp=$(sed -n 's|^sluice_vip_packets_total{vip="10.100.0.1:80/tcp"} ||p' "$TMP/expected.txt")
scraped() {   # the first scrape comes within one interval (5 s) of the start
    for _ in $(seq 150); do
        [ "$(value 'sluice_vip_packets_total{job="sluice",vip="10.100.0.1:80/tcp"}')" = "$want_tcp" ] && return 0
        sleep 0.1
    done
    return 1
}
check "Prometheus scraped sluice_vip_packets_total = $want_tcp for 10.100.0.1:80/tcp" scraped
check "up{job=\"sluice\"} is 1" test "$(value 'up{job="sluice"}')" = 1
want_fwd=$(awk '/^sluice_packets_total\{reason="fwd_(tx|redirect)"\}/ {n += $2} END {print n}' "$TMP/expected.txt")
check "sum of forwarded packets through PromQL is $want_fwd" \
    test "$(value 'sum(sluice_packets_total{reason=~"fwd_.*"})')" = "$want_fwd"
check "the scrape carries the config's site label" \
    test "$(value 'count(sluice_build_info{site="lab",fastpath="xdp"})')" = 1

# Every query of the Grafana dashboard evaluates (template variables set to
# "all", Grafana's rate interval to 1m).
dashboard_queries() {
    python3 - "$PROMCFG/grafana-dashboard.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for p in d["panels"]:
    for t in p.get("targets", []):
        e = t["expr"].replace("$instance", ".*").replace("$vip", ".*")
        print(e.replace("$__rate_interval", "1m"))
PY
}
n_queries=0
while read -r q; do
    n_queries=$((n_queries + 1))
    evaluates() { promql "$1" | grep '"status":"success"' >/dev/null; }
    check "dashboard query evaluates: $q" evaluates "$q"
done < <(dashboard_queries)
check "the dashboard has queries ($n_queries)" test "$n_queries" -ge 10
has_series() { [ "$(value "count($1)")" -ge 1 ] 2>/dev/null; }
check "the per-backend panel has series" has_series 'sum by (vip, backend) (sluice_backend_packets_total)'

rules_loaded() {
    nsx curl -sf --max-time 5 http://127.0.0.1:9090/api/v1/rules | python3 -c '
import json, sys
rules = [r for g in json.load(sys.stdin)["data"]["groups"] for r in g["rules"]]
sys.exit(not (len(rules) == 9 and all(r["health"] == "ok" for r in rules)))'
}
check "the 9 alert rules are loaded and evaluate" rules_loaded
# Rules run every 5 s: the alert for the VIP without a backend is pending
# (it fires after 30 s) within a few evaluations of the first scrape.
alert_for_drained_vip() {
    for _ in $(seq 150); do
        nsx curl -sf --max-time 5 http://127.0.0.1:9090/api/v1/alerts | python3 -c '
import json, sys
a = [x for x in json.load(sys.stdin)["data"]["alerts"] if x["labels"]["alertname"] == "SluiceVipNoHealthyBackend"]
sys.exit(not (len(a) == 1 and a[0]["labels"]["vip"] == "10.100.0.3:80/tcp"
              and a[0]["state"] in ("pending", "firing")))' && return 0
        sleep 0.1
    done
    return 1
}
check "SluiceVipNoHealthyBackend goes off for 10.100.0.3:80/tcp alone" alert_for_drained_vip

# --- moving the endpoint at run time ------------------------------------------
# Within a metrics tick (1 s) of `node set --metrics`; an address that will
# not listen keeps the old endpoint.
serves() {   # serves PORT: /healthz answers there (bounded wait)
    for _ in $(seq 30); do
        nsx curl -sf --max-time 1 "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}
gone() { ! nsx curl -sf --max-time 1 "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; }
ctl node set --interface veth0 --encap-source 10.0.0.1 --metrics 127.0.0.1:9110
check "node set --metrics moves the endpoint to :9110" serves 9110
check "and :9109 is closed" gone 9109
ctl node set --interface veth0 --encap-source 10.0.0.1 --metrics 192.0.2.99:9111
check "a move to an address that cannot listen is logged" \
    eventually 5 grep -q "cannot listen on 192.0.2.99:9111" "$TMP/sluiced.log"
check "and :9110 keeps serving" serves 9110
check "the VIPs are untouched by node set" test "$(ctl vip list | tail -n +2 | wc -l)" = 3

echo "metrics.sh: $failures check(s) failed"
[ "$failures" = 0 ]
