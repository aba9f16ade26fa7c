# Shared by the shell tests (sourced): TAP-like checks counted in $failures.
failures=0

check() {   # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then
        echo "ok - $what"
    else
        echo "not ok - $what"
        failures=$((failures + 1))
    fi
}

# eventually SECONDS COMMAND...: COMMAND succeeds within SECONDS, polled
# every 50 ms. For effects that land asynchronously (a signal handled, a
# log line written), where a fixed sleep is a flake on a loaded host.
eventually() {
    local end=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
    shift
    until "$@"; do
        [ $(( $(date +%s%N) / 1000000 )) -lt "$end" ] || return 1
        sleep 0.05
    done
}

# ready CTL [ARGS]: `CTL ARGS --json status` answers and sluiced has
# finished loading its state: it answers status while it loads, saying
# "loading": true, and holds every other request until it is done.
ready() { "$@" --json status 2>/dev/null | grep -q '"loading": false'; }
