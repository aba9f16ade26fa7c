#!/usr/bin/python3
"""arp_probe.py IFACE SENDER_IP TARGET_IP: asks who has TARGET_IP with a
broadcast ARP request out IFACE (a raw socket, so the kernel's neighbour
cache plays no part) and prints the MAC of the first reply from
TARGET_IP. Exits 1 when none comes within a second (three requests).

arp_probe.py --watch IFACE SENDER_IP TARGET_IP SECONDS: prints "ready",
then for SECONDS counts the ARP requests from SENDER_IP for TARGET_IP
that IFACE receives, prints the count and exits."""
import socket
import struct
import sys
import time

ETH_P_ARP = 0x0806


def mac_str(b):
    return ':'.join('%02x' % x for x in b)


def watch(iface, sender, target, seconds):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    s.bind((iface, ETH_P_ARP))
    spa, tpa = socket.inet_aton(sender), socket.inet_aton(target)
    print('ready', flush=True)
    seen = 0
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            r, addr = s.recvfrom(128)
        except socket.timeout:
            break
        if addr[2] == socket.PACKET_OUTGOING or len(r) < 42:
            continue
        op, rspa, rtpa = struct.unpack('!6xH6x4s6x4s', r[14:42])
        if op == 1 and rspa == spa and rtpa == tpa:
            seen += 1
    print(seen)
    return 0


def main():
    if sys.argv[1] == '--watch':
        return watch(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
    iface, sender, target = sys.argv[1:4]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    s.bind((iface, ETH_P_ARP))
    me = s.getsockname()[4][:6]
    spa, tpa = socket.inet_aton(sender), socket.inet_aton(target)
    arp = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 1, me, spa, b'\0' * 6, tpa)
    frame = b'\xff' * 6 + me + struct.pack('!H', ETH_P_ARP) + arp
    for _ in range(3):
        s.send(frame)
        end = time.monotonic() + 0.33
        while (left := end - time.monotonic()) > 0:
            s.settimeout(left)
            try:
                r = s.recv(128)
            except socket.timeout:
                break
            if len(r) < 42:
                continue
            op, sha, rspa = struct.unpack('!6xH6s4s', r[14:32])
            if op == 2 and rspa == tpa:
                print(mac_str(sha))
                return 0
    return 1


if __name__ == '__main__':
    sys.exit(main())
