#!/usr/bin/env python3
"""Client side of the fleet test: TCP flows through the VIP that must
survive a node's death, and new connections that time the failover.

  flows.py hold VIP --sessions N --stop FILE [--max S] [--interval S]
      opens N keep-alive HTTP/1.1 connections to VIP:80, prints
      "ready PORT..." (their local ports, one line), then in rounds sends
      a request on every connection at once and reads every answer, until
      FILE exists or S seconds (default 60) have passed. A connection that
      fails (error, reset, no answer within --timeout) is broken and left
      alone. Prints one JSON line: sessions, rounds, requests, broken,
      errors (the first few), the slowest round in ms and the backends
      that answered.

  flows.py probe VIP --ports P,P,... --stop FILE [--max S] [--timeout S]
      new connections to VIP:80, one at a time, from the given local ports
      in turn (closed with a reset, so a port can be used again at once),
      each with one request; prints "EPOCH_MS PORT ok|fail" per attempt,
      the epoch time of the attempt's start.

Every wait is bounded (--timeout per request, --max per run).
"""
import argparse
import json
import os
import selectors
import socket
import struct
import sys
import time


def request(vip):
    return ("GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % vip).encode()


def parse(buf):
    """A whole response in buf: (body, rest); else None."""
    head, sep, rest = buf.partition(b"\r\n\r\n")
    if not sep:
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    if len(rest) < length:
        return None
    return rest[:length], rest[length:]


def hold(a):
    socks = []
    for _ in range(a.sessions):
        s = socket.create_connection((a.vip, 80), timeout=a.timeout)
        s.setblocking(False)
        socks.append(s)
    print("ready " + " ".join(str(s.getsockname()[1]) for s in socks), flush=True)
    live = {s: b"" for s in socks}
    errors, backends = [], {}
    rounds = requests = 0
    slowest = 0.0
    end = time.monotonic() + a.max
    sel = selectors.DefaultSelector()
    while time.monotonic() < end and not os.path.exists(a.stop) and live:
        t0 = time.monotonic()
        waiting = {}
        for s in list(live):
            try:
                s.send(request(a.vip))
                waiting[s] = b""
                sel.register(s, selectors.EVENT_READ)
            except OSError as e:
                errors.append("send port %d: %s" % (s.getsockname()[1], e))
                del live[s]
        deadline = t0 + a.timeout
        while waiting and time.monotonic() < deadline:
            for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except OSError as e:
                    data, err = None, str(e)
                if not data:
                    errors.append("recv: %s" % (err if data is None else "closed by peer"))
                    sel.unregister(s)
                    del waiting[s], live[s]
                    continue
                waiting[s] += data
                got = parse(waiting[s])
                if got:
                    body = got[0].decode(errors="replace").strip()
                    backends[body] = backends.get(body, 0) + 1
                    requests += 1
                    sel.unregister(s)
                    del waiting[s]
        for s in waiting:
            errors.append("no answer within %.1f s" % a.timeout)
            sel.unregister(s)
            del live[s]
        rounds += 1
        slowest = max(slowest, time.monotonic() - t0)
        time.sleep(max(0.0, a.interval - (time.monotonic() - t0)))
    for s in socks:
        s.close()
    print(json.dumps({"sessions": a.sessions, "rounds": rounds, "requests": requests,
                      "broken": a.sessions - len(live), "errors": errors[:5],
                      "slowest_round_ms": int(slowest * 1000), "backends": backends}),
          flush=True)


def probe(a):
    ports = [int(p) for p in a.ports.split(",") if p]
    end = time.monotonic() + a.max
    i = 0
    while time.monotonic() < end and not os.path.exists(a.stop):
        port = ports[i % len(ports)]
        i += 1
        t = int(time.time() * 1000)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.settimeout(a.timeout)
        ok = False
        try:
            s.bind(("0.0.0.0", port))
            s.connect((a.vip, 80))
            s.sendall(request(a.vip))
            buf = b""
            while not parse(buf):
                data = s.recv(65536)
                if not data:
                    break
                buf += data
            ok = parse(buf) is not None
        except OSError:
            pass
        s.close()
        print("%d %d %s" % (t, port, "ok" if ok else "fail"), flush=True)
        if not ok:
            continue
        time.sleep(a.interval)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["hold", "probe"])
    p.add_argument("vip")
    p.add_argument("--sessions", type=int, default=100)
    p.add_argument("--ports", default="")
    p.add_argument("--stop", required=True)
    p.add_argument("--max", type=float, default=60.0)
    p.add_argument("--interval", type=float, default=0.1)
    p.add_argument("--timeout", type=float, default=10.0)
    a = p.parse_args()
    if a.mode == "hold":
        hold(a)
    else:
        if not a.ports:
            p.error("probe needs --ports")
        probe(a)


if __name__ == "__main__":
    sys.exit(main())
