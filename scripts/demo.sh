#!/bin/sh
# README's first command. The demo needs the netns lab (client, balancer,
# nginx backends), sluiced and sluice-healthd, which arrive with issue #4.
# Until then it says so instead of pretending.
cat >&2 <<'MSG'
demo.sh: not yet. The lab (namespaces with real nginx backends behind the
XDP balancer) arrives with the lab issue. What runs today:

  scripts/test.sh        build and run the unit and BPF fixture suites
  scripts/bench.sh xdp   per-packet cost of the XDP forwarder (root)
MSG
exit 2
