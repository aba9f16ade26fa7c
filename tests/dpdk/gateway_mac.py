#!/usr/bin/env python3
"""sluice-dpdk --gateway-mac as a daemon: every backend is behind the one
MAC given, so a SYN to the VIP must leave encapsulated toward that MAC,
and the daemon must not ask the kernel for neighbours (its backends are
not routable here: each lookup used to log a failure, 2,000 lines/s with
10,000 backends).

A private netns holds a veth pair: sluice-dpdk polls gw0 through
net_af_packet; this script sends on gw1 and reads what comes back there.
Frames are built by pcap_mode.py's helpers, not by lib/.

Usage: gateway_mac.py SLUICE_DPDK   (exit 77: skipped, with the reason)
"""
import ctypes
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pcap_mode import VIP, CLIENT, BACKEND, ENCAP_SRC, CLIENT_MAC, ip, tcp_syn, fail  # noqa: E402

GATEWAY = '02:00:00:00:00:99'
GW0_MAC = bytes.fromhex('02aa00000010')  # the balancer's port
CLONE_NEWNET = 0x40000000


def sh(*args):
    subprocess.run(args, check=True)


def enter_netns(name):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open('/run/netns/' + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET):
            fail('setns %s: %s' % (name, os.strerror(ctypes.get_errno())))
    finally:
        os.close(fd)


def wait_serving(log, proc, sock_path):
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.stdout.write(open(log).read())
            if 'EAL init failed' in open(log).read():
                print('SKIP: the EAL does not start here')
                sys.exit(77)
            fail('sluice-dpdk exited with %d' % proc.returncode)
        if os.path.exists(sock_path) and 'serving' in open(log).read():
            return
        time.sleep(0.05)
    fail('sluice-dpdk did not serve its socket within 30 s')


def encapsulated_reply(raw, syn, gw0_mac):
    """Sends the SYN until its encapsulation comes back (5 s at most)."""
    end = time.monotonic() + 5
    while time.monotonic() < end:
        raw.send(syn)
        stop = time.monotonic() + 0.1
        while time.monotonic() < stop:
            if not select.select([raw], [], [], 0.02)[0]:
                continue
            got = raw.recv(4096)
            if got[12:14] == b'\x08\x00' and len(got) >= 34 and got[23] == 4:
                return got
    fail('no encapsulated SYN came back from %s within 5 s' % gw0_mac.hex())


def run(exe, tmp, ns):
    sh('ip', 'netns', 'add', ns)
    enter_netns(ns)
    sh('ip', 'link', 'set', 'lo', 'up')
    sh('ip', 'link', 'add', 'gw0', 'address', GW0_MAC.hex(':'), 'type', 'veth',
       'peer', 'name', 'gw1')
    sh('ip', 'link', 'set', 'gw0', 'up')
    sh('ip', 'link', 'set', 'gw1', 'up')
    conf, state, sock_path, log = (os.path.join(tmp, n)
                                   for n in ('sl.conf', 'state.conf', 's.sock', 'log'))
    with open(conf, 'w') as f:
        f.write('node set --interface gw0 --encap-source %s\n' % ENCAP_SRC)
        f.write('vip add %s:80/tcp --ring 1021\n' % VIP)
        f.write('backend add %s:80/tcp %s\n' % (VIP, BACKEND))
    cmd = [exe, '--foreground', '--config', conf, '--state', state, '--socket', sock_path,
           '--metrics', 'none', '--max-vips', '16', '--max-backends', '64',
           '--max-ring', '1021', '--flow-buckets', '1024', '--gateway-mac', GATEWAY,
           '--', '-l', '0-1', '--no-huge', '-m', '512', '--no-pci',
           '--vdev=net_af_packet0,iface=gw0', '--file-prefix=' + ns,
           '--log-level=lib.eal:error']
    with open(log, 'w') as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_serving(log, proc, sock_path)
        raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        raw.bind(('gw1', 0))
        gw0_mac = GW0_MAC
        syn = gw0_mac + CLIENT_MAC + b'\x08\x00' + tcp_syn(CLIENT, 40000, VIP, 80)
        got = encapsulated_reply(raw, syn, gw0_mac)
        raw.close()
        if got[0:6] != bytes.fromhex(GATEWAY.replace(':', '')):
            fail('destination MAC %s, want the gateway %s' % (got[0:6].hex(), GATEWAY))
        if got[6:12] != gw0_mac:
            fail('source MAC %s, want gw0\'s %s' % (got[6:12].hex(), gw0_mac.hex()))
        if got[26:30] != ip(ENCAP_SRC) or got[30:34] != ip(BACKEND):
            fail('outer %s -> %s' % (got[26:30].hex(), got[30:34].hex()))
        print('ok: the SYN left IPIP %s -> %s to the gateway MAC %s'
              % (ENCAP_SRC, BACKEND, GATEWAY))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = open(log).read()
    if 'next hop of' in text:
        sys.stdout.write(text)
        fail('the daemon looked up kernel neighbours despite --gateway-mac')
    print('ok: no kernel next-hop lookups logged')


def main():
    exe = sys.argv[1]
    if os.geteuid() != 0:
        print('SKIP: needs root (network namespace, AF_PACKET)')
        sys.exit(77)
    if os.cpu_count() < 2:
        print('SKIP: the daemon needs a worker lcore besides its main one')
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix='sl-gwmac-')
    ns = 'sl-gwmac-%d' % os.getpid()
    try:
        run(exe, tmp, ns)
    finally:
        subprocess.run(['ip', 'netns', 'del', ns], stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree('/var/run/dpdk/' + ns, ignore_errors=True)


if __name__ == '__main__':
    main()
