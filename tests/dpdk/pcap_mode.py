#!/usr/bin/env python3
"""sluice-dpdk's pcap mode end to end: a capture with a SYN to a VIP, a
packet to no VIP and a truncated frame goes in; exactly the encapsulated
SYN must come out. Frames and the expected output are built here, not by
lib/ (checksums by RFC 1071), so a bug cannot hide in both.

Usage: pcap_mode.py SLUICE_DPDK   (exit 77: skipped, with the reason)
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

VIP, CLIENT, BACKEND, ENCAP_SRC = '10.100.0.1', '192.0.2.7', '10.0.0.11', '10.0.0.1'
NEXTHOP = '02:00:00:00:00:01'
LB_MAC, CLIENT_MAC = bytes.fromhex('02aa00000001'), bytes.fromhex('02cc00000007')


def ip(a):
    return bytes(map(int, a.split('.')))


def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ip4(src, dst, proto, payload):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 1, 0x4000, 64, proto, 0,
                    ip(src), ip(dst))
    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + payload


def tcp_syn(src, sport, dst, dport):
    seg = struct.pack('!HHIIBBHHH', sport, dport, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    c = csum(ip(src) + ip(dst) + struct.pack('!BBH', 0, 6, len(seg)) + seg)
    return ip4(src, dst, 6, seg[:16] + struct.pack('!H', c) + seg[18:])


def eth(payload):
    return LB_MAC + CLIENT_MAC + b'\x08\x00' + payload


def write_pcap(path, frames):
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack('<IIII', 1700000000 + i, 0, len(fr), len(fr)) + fr)


def read_pcap(path):
    data = open(path, 'rb').read()
    magic = struct.unpack('<I', data[:4])[0]
    assert magic in (0xa1b2c3d4, 0xa1b23c4d), 'not a little-endian pcap: %#x' % magic
    off, out = 24, []
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack('<IIII', data[off:off + 16])
        out.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return out


def fail(msg):
    print('FAIL: ' + msg)
    sys.exit(1)


def main():
    exe = sys.argv[1]
    if not os.path.exists('/usr/bin/dpdk-testpmd') and not os.path.isdir('/usr/lib/x86_64-linux-gnu/dpdk'):
        print('SKIP: no DPDK runtime')
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix='sl-pcap-')
    prefix = 'sl-pcap-test-%d' % os.getpid()
    try:
        syn = eth(tcp_syn(CLIENT, 40000, VIP, 80))
        other = eth(tcp_syn(CLIENT, 40001, '198.51.100.9', 80))
        truncated = LB_MAC + CLIENT_MAC  # 12 bytes: not even an EtherType
        pin, pout, conf = (os.path.join(tmp, n) for n in ('in.pcap', 'out.pcap', 'sl.conf'))
        write_pcap(pin, [syn, other, truncated])
        with open(conf, 'w') as f:
            f.write('node set --encap-source %s\n' % ENCAP_SRC)
            f.write('vip add %s:80/tcp --ring 1021\n' % VIP)
            f.write('backend add %s:80/tcp %s\n' % (VIP, BACKEND))
        cmd = ['timeout', '60', exe, '--pcap-in', pin, '--pcap-out', pout, '--config', conf,
               '--max-vips', '16', '--max-backends', '64', '--max-ring', '1021',
               '--flow-buckets', '1024', '--pcap-nexthop', NEXTHOP,
               '--', '--no-huge', '-m', '512', '--no-pci', '-l', '0',
               '--file-prefix=' + prefix, '--log-level=lib.eal:error']
        r = subprocess.run(cmd, capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        if r.returncode != 0:
            if 'EAL init failed' in r.stderr:
                print('SKIP: the EAL does not start here')
                sys.exit(77)
            fail('exit %d' % r.returncode)
        for want in ('3 packets', 'fwd_tx=1', 'pass_not_vip=1', 'drop_bad_l2=1', 'written 1'):
            if want not in r.stdout:
                fail('summary lacks %r' % want)
        out = read_pcap(pout)
        if len(out) != 1:
            fail('%d packets written, want 1' % len(out))
        got = out[0]
        inner = syn[14:]
        if got[0:6] != bytes.fromhex(NEXTHOP.replace(':', '')):
            fail('destination MAC %s' % got[0:6].hex())
        if got[12:14] != b'\x08\x00':
            fail('EtherType %s' % got[12:14].hex())
        outer = got[14:34]
        if outer[0] != 0x45 or outer[9] != 4:
            fail('outer header is not IPv4 carrying IPIP: %s' % outer.hex())
        if outer[12:16] != ip(ENCAP_SRC) or outer[16:20] != ip(BACKEND):
            fail('outer %s -> %s' % (outer[12:16].hex(), outer[16:20].hex()))
        if csum(outer) != 0:
            fail('outer header checksum')
        if struct.unpack('!H', outer[2:4])[0] != 20 + len(inner):
            fail('outer total length')
        if got[34:] != inner:
            fail('inner packet changed')
        print('ok: 1 of 3 packets written, IPIP %s -> %s around the SYN' % (ENCAP_SRC, BACKEND))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree('/var/run/dpdk/' + prefix, ignore_errors=True)


if __name__ == '__main__':
    main()
