# demo_fleet.sh - the fleet half of scripts/demo.sh (sourced by it for
# --nodes N, after the packages and the build): the fleet lab, sluiced and
# sluice-healthd on every node, the VIP announced over BGP, flows spread
# over the nodes, one node failing while requests go on being answered.
# The lab stays up; `scripts/lab.sh down` removes it, daemons included.
# shellcheck shell=bash

LAB=$REPO/scripts/lab.sh
CNS=${LAB_PREFIX}client
RT=${LAB_PREFIX}rt
TABLE=100

say "fleet lab (scripts/lab.sh up --nodes $NODES)"
"$LAB" up --nodes "$NODES"
eval "$("$LAB" env)"
[ "$LAB_NODES" = "$NODES" ] || die "the lab under $LAB_STATE has $LAB_NODES nodes: scripts/lab.sh down first"
STATE=$LAB_STATE

nsock() { echo "$STATE/lb$1/sluiced.sock"; }
nctl() {   # nctl I ARGS...
    local i=$1
    shift
    nsenter --net="/run/netns/${LAB_PREFIX}lb$i" "$BUILD/controlplane/sluicectl" --socket "$(nsock "$i")" "$@"
}
alive() { [ -s "$1" ] && [ -d "/proc/$(cat "$1")" ]; }
paths() { ip -n "$RT" -4 route show "$VIP/32" | grep -o 'via [0-9.]*' | awk '{print $2}' | tr '\n' ' '; }
npaths() { paths | wc -w; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Does this sluiced announce (node set --announce-table)? If not, the
# demo puts the route in table 100 itself, as the lab's --help shows.
ANNOUNCER=0
if "$BUILD/controlplane/sluicectl" node set --help 2>&1 | grep -q -- --announce-table; then
    ANNOUNCER=1
fi

say "sluiced and sluice-healthd on nodes 1-$NODES"
for i in $(seq "$NODES"); do
    d=$STATE/lb$i
    mkdir -p "$d"
    if alive "$STATE/pids/sluiced-lb$i"; then
        echo "node $i: sluiced already runs (pid $(cat "$STATE/pids/sluiced-lb$i"))"
    else
        {
            echo "# written by scripts/demo.sh --nodes $NODES"
            echo "node set --interface eth0 --encap-source 10.200.0.$((1 + i))$([ "$ANNOUNCER" = 1 ] && echo " --announce-table $TABLE")"
            echo "vip add $SVC --check http --check-path /health --check-port 80 --check-interval 1s --check-timeout 500ms --check-rise 2 --check-fall 2"
            for b in $BACKENDS; do echo "backend add $SVC $b"; done
        } > "$d/sluice.conf"
        # lab.sh node-exec execs: $! is sluiced.
        "$LAB" node-exec "$i" "$BUILD/controlplane/sluiced" --foreground --config "$d/sluice.conf" \
            --state "$d/sluiced.state" --socket "$d/sluiced.sock" --state-fallback "$d/state.pending" \
            --pin-root "$LAB_PINS/lb$i" </dev/null >>"$d/sluiced.log" 2>&1 &
        echo $! > "$STATE/pids/sluiced-lb$i"
        for _ in $(seq 200); do nctl "$i" status >/dev/null 2>&1 && break; sleep 0.05; done
        nctl "$i" status >/dev/null 2>&1 || { tail -n 20 "$d/sluiced.log" >&2; die "node $i: sluiced did not start"; }
        echo "node $i: sluiced pid $(cat "$STATE/pids/sluiced-lb$i"), log $d/sluiced.log"
    fi
    if ! alive "$STATE/pids/sluice-healthd-lb$i"; then
        "$LAB" node-exec "$i" "$BUILD/healthd/sluice-healthd" --foreground \
            --socket "$d/sluiced.sock" --refresh 500 </dev/null >>"$d/healthd.log" 2>&1 &
        echo $! > "$STATE/pids/sluice-healthd-lb$i"
    fi
    if [ "$ANNOUNCER" = 0 ]; then
        ip -n "${LAB_PREFIX}lb$i" route replace blackhole "$VIP/32" table $TABLE proto 200
    fi
done
if [ "$ANNOUNCER" = 1 ]; then
    echo "each node's sluiced keeps $VIP in its table $TABLE while the VIP has a backend up; bird announces it"
else
    echo "this sluiced has no --announce-table: $VIP put in each node's table $TABLE by hand"
fi

say "the router's route to $VIP (bird: scripts/lab.sh birdc rt show route)"
for _ in $(seq 100); do [ "$(npaths)" = "$NODES" ] && break; sleep 0.1; done
ip -n "$RT" -4 route show "$VIP/32" | sed 's/^/  /'
[ "$(npaths)" = "$NODES" ] || echo "demo: warning: $(npaths) of $NODES paths after 10 s"

new_flows() {   # new_flows I
    nctl "$1" --json stats --vip "$SVC" 2>/dev/null |
        python3 -c 'import json,sys; print(sum(v["new_flows"] for v in json.load(sys.stdin)["vips"]))' 2>/dev/null || echo 0
}
# burst LABEL: REQUESTS new connections; who answered, and which node
# each went through (the nodes' new-flow counters).
burst() {
    local i before=() n body failed=0
    declare -A seen=()
    for i in $(seq "$NODES"); do before[i]=$(new_flows "$i"); done
    for _ in $(seq "$REQUESTS"); do
        if body=$(nsenter --net="/run/netns/$CNS" curl -s --max-time 3 "http://$VIP/"); then
            seen[$body]=$(( ${seen[$body]:-0} + 1 ))
        else
            failed=$((failed + 1))
        fi
    done
    for i in $(seq "$NODES"); do
        n=$(( $(new_flows "$i") - before[i] ))
        printf '  node %d (10.200.0.%d) %3d  %s\n' "$i" $((1 + i)) "$n" \
            "$(printf '%*s' $(( n * 40 / REQUESTS )) '' | tr ' ' '#')"
    done
    for body in $(printf '%s\n' "${!seen[@]}" | sort); do
        printf '  %-6s answered %3d\n' "$body" "${seen[$body]}"
    done
    echo "  failed          $failed"
}

for _ in $(seq 50); do
    ok=1
    for i in $(seq "$NODES"); do
        nctl "$i" --json backend list "$SVC" | grep -q '"health": "up"' || ok=0
    done
    [ "$ok" = 1 ] && break
    sleep 0.2
done
say "$REQUESTS HTTP requests from $CNS (10.201.0.10) to http://$VIP/, spread by the router"
burst

say "node 2 fails (its link goes down)"
t0=$(now_ms)
ip -n "${LAB_PREFIX}lb2" link set eth0 down
for _ in $(seq 500); do paths | grep -qw 10.200.0.3 || break; sleep 0.01; done
echo "  the router dropped node 2 after $(( $(now_ms) - t0 )) ms (BFD): now via $(paths)"
burst

say "node 2 comes back"
ip -n "${LAB_PREFIX}lb2" link set eth0 up
t0=$(now_ms)
for _ in $(seq 300); do [ "$(npaths)" = "$NODES" ] && break; sleep 0.1; done
echo "  back in the route after $(( $(now_ms) - t0 )) ms: via $(paths)"

CTL1="nsenter --net=/run/netns/${LAB_PREFIX}lb1 $BUILD/controlplane/sluicectl --socket $(nsock 1)"
cat <<EOF

== poke it (the lab stays up)
  scripts/lab.sh status
  scripts/lab.sh birdc rt show protocols        # one BGP session per node
  scripts/lab.sh birdc 1 show route             # what node 1 announces
  ip -n $RT route show $VIP
  $CTL1 stats
  $CTL1 ring digest $SVC        # the same on every node
  kill -STOP \$(cat $STATE/pids/bird-lb3)        # node 3 silent: BFD withdraws it in ~300 ms
  scripts/lab.sh down                           # removes everything, daemons included
EOF
