"""Ethernet/IPv4 test frames for the shell tests, built independently of
lib/ (checksums by RFC 1071 here, so a bug in lib/ cannot hide in both).

As a command: frames.py OUT.bin KIND SRC SPORT DST DPORT
  KIND: syn | ack | udp
"""
import struct
import sys

CLIENT_MAC = bytes.fromhex('02cc00000007')
LB_MAC = bytes.fromhex('02aa00000001')


def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def _ip4(src, dst, proto, l4, ihl=5):
    ip = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0,
                     src, dst)
    return ip[:10] + struct.pack('!H', csum(ip)) + ip[12:] + l4


def _l4_csum(src, dst, proto, l4, off):
    c = csum(src + dst + struct.pack('!BBH', 0, proto, len(l4)) + l4)
    return l4[:off] + struct.pack('!H', c) + l4[off + 2:]


def eth(payload, ethertype=0x0800):
    return LB_MAC + CLIENT_MAC + struct.pack('!H', ethertype) + payload


def tcp(src, sport, dst, dport, flags, payload=b''):
    s, d = bytes(map(int, src.split('.'))), bytes(map(int, dst.split('.')))
    seg = struct.pack('!HHIIBBHHH', sport, dport, 1, 1, 5 << 4, flags, 65535, 0, 0) + payload
    return eth(_ip4(s, d, 6, _l4_csum(s, d, 6, seg, 16)))


def udp(src, sport, dst, dport, payload=b'sluice'):
    s, d = bytes(map(int, src.split('.'))), bytes(map(int, dst.split('.')))
    dg = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload
    return eth(_ip4(s, d, 17, _l4_csum(s, d, 17, dg, 6)))


SYN, ACK = 0x02, 0x10

if __name__ == '__main__':
    out, kind, src, sport, dst, dport = sys.argv[1:7]
    if kind == 'udp':
        f = udp(src, int(sport), dst, int(dport))
    else:
        f = tcp(src, int(sport), dst, int(dport), SYN if kind == 'syn' else ACK)
    open(out, 'wb').write(f)
