"""Sends a known set of frames through the pinned XDP program (one
BPF_PROG_TEST_RUN each, on CPU 0: the connection table is per CPU) and
prints the /metrics samples they must produce, one per line.

  metrics_traffic.py NETNS PROG_PIN TMPDIR

VIP counters and drop reasons follow from what was sent alone. The backend
of a forwarded frame is the outer destination the program wrote, and its
forward reason the action it returned: the split between backends is the
ring's business (tested elsewhere); the counters must match it exactly.
"""
import collections
import os
import re
import socket
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import frames  # noqa: E402

NETNS, PROG, TMP = sys.argv[1:4]
TCP_VIP, UDP_VIP, DRAINED_VIP = '10.100.0.1:80/tcp', '10.100.0.2:53/udp', '10.100.0.3:80/tcp'
XDP_TX, XDP_REDIRECT = 3, 4

vip = collections.defaultdict(lambda: collections.Counter())
backend = collections.Counter()
backend_bytes = collections.Counter()
reason = collections.Counter()


def run(frame):
    """One run of the program; returns (action, outer destination)."""
    fin, fout = os.path.join(TMP, 'in.bin'), os.path.join(TMP, 'out.bin')
    open(fin, 'wb').write(frame)
    r = subprocess.run(['nsenter', '--net=/run/netns/' + NETNS, 'taskset', '-c', '0',
                        'bpftool', 'prog', 'run', 'pinned', PROG, 'data_in', fin,
                        'data_out', fout, 'repeat', '1'],
                       capture_output=True, text=True, check=True)
    action = int(re.search(r'[Rr]eturn value: (\d+)', r.stdout + r.stderr).group(1))
    out = open(fout, 'rb').read()
    return action, socket.inet_ntoa(out[30:34]) if len(out) >= 34 else None


def to_vip(name, frame, new_flow=0, ring_pick=0, miss=0, dropped=None):
    action, dst = run(frame)
    c = vip[name]
    c['packets'] += 1
    c['bytes'] += len(frame)
    c['new_flows'] += new_flow
    c['ring_picks'] += ring_pick
    c['flow_misses'] += miss
    if dropped:
        reason[dropped] += 1
        return
    if action not in (XDP_TX, XDP_REDIRECT):
        sys.exit('frame to %s not forwarded: action %d' % (name, action))
    reason['fwd_tx' if action == XDP_TX else 'fwd_redirect'] += 1
    backend[(name, dst)] += 1
    backend_bytes[(name, dst)] += len(frame)
    return dst


def no_df(frame):
    """The frame with DF cleared (and the IPv4 checksum redone)."""
    ip = bytearray(frame[14:34])
    ip[6] &= 0xbf
    ip[10:12] = b'\0\0'
    ip[10:12] = struct.pack('!H', frames.csum(bytes(ip)))
    return frame[:14] + bytes(ip) + frame[34:]


def other(frame, why):
    run(frame)
    reason[why] += 1


clients = ['192.0.2.%d' % i for i in range(1, 11)]
for c in clients:                       # new connections
    to_vip(TCP_VIP, frames.tcp(c, 40000, '10.100.0.1', 80, frames.SYN), new_flow=1, ring_pick=1)
for _ in range(2):                      # their established packets
    for c in clients:
        to_vip(TCP_VIP, frames.tcp(c, 40000, '10.100.0.1', 80, frames.ACK))
for i in range(1, 4):                   # connections the table never saw
    to_vip(TCP_VIP, frames.tcp('198.51.100.%d' % i, 50000, '10.100.0.1', 80, frames.ACK),
           new_flow=1, ring_pick=1, miss=1)
for port in (5300, 5301):               # two UDP flows, two datagrams each
    to_vip(UDP_VIP, frames.udp('192.0.2.50', port, '10.100.0.2', 53), new_flow=1, ring_pick=1,
           miss=1)
    to_vip(UDP_VIP, frames.udp('192.0.2.50', port, '10.100.0.2', 53))
# A VIP whose only backend drains: its ring names no backend, so a new
# flow consults it and is dropped, and nothing is inserted.
to_vip(DRAINED_VIP, frames.tcp('192.0.2.60', 40000, '10.100.0.3', 80, frames.SYN),
       ring_pick=1, dropped='drop_no_backend')
to_vip(DRAINED_VIP, frames.tcp('192.0.2.60', 40000, '10.100.0.3', 80, frames.ACK),
       ring_pick=1, miss=1, dropped='drop_no_backend')
# Too big for the 1500-byte link once encapsulated, and DF clear: dropped
# after its flow's backend was picked, and counted against that backend.
big_dst = to_vip(TCP_VIP, frames.tcp('192.0.2.80', 40000, '10.100.0.1', 80, frames.SYN),
                 new_flow=1, ring_pick=1)
to_vip(TCP_VIP, no_df(frames.tcp('192.0.2.80', 40000, '10.100.0.1', 80, frames.ACK,
                                 bytes(1470))), dropped='drop_too_big')
for _ in range(2):
    other(frames.tcp('192.0.2.70', 40000, '10.200.0.1', 80, frames.SYN), 'pass_not_vip')
bad = bytearray(frames.tcp('192.0.2.71', 40000, '10.100.0.1', 80, frames.SYN))
bad[14] = 0x44                          # IHL 4: shorter than an IPv4 header
other(bytes(bad), 'drop_bad_l3')
other(frames.eth(bytes(28), 0x0806), 'pass_not_ip')

for name in (TCP_VIP, UDP_VIP, DRAINED_VIP):
    for field in ('packets', 'bytes', 'new_flows', 'ring_picks', 'flow_misses'):
        print('sluice_vip_%s_total{vip="%s"} %d' % (field, name, vip[name][field]))
for (name, dst), n in sorted(backend.items()):
    print('sluice_backend_packets_total{vip="%s",backend="%s"} %d' % (name, dst, n))
    print('sluice_backend_bytes_total{vip="%s",backend="%s"} %d'
          % (name, dst, backend_bytes[(name, dst)]))
print('sluice_backend_dropped_packets_total{vip="%s",backend="%s",reason="drop_too_big"} 1'
      % (TCP_VIP, big_dst))
print('sluice_backend_dropped_packets_total{vip="%s",backend="%s",reason="drop_fib"} 0'
      % (TCP_VIP, big_dst))
for why, n in sorted(reason.items()):
    print('sluice_packets_total{reason="%s"} %d' % (why, n))
