#!/usr/bin/env python3
"""Slow clients against a running gateway: opens N connections, half sending nothing and half
a header that never ends, times /readyz meanwhile, and counts how many the gateway still
holds after a wait. Usage: slow_clients.py HOST:PORT [N=1100] [WAIT_S=11]
(raise `ulimit -n` first for more than ~1,000 connections)."""
import socket
import sys
import time
import urllib.request

host, port = sys.argv[1].rsplit(":", 1)
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1100
wait = float(sys.argv[3]) if len(sys.argv) > 3 else 11
conns = []
for i in range(n):
    s = socket.create_connection((host, int(port)))
    if i % 2:
        s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-")
    conns.append(s)
t = time.time()
status = urllib.request.urlopen(f"http://{host}:{port}/readyz", timeout=30).status
print(f"/readyz with {n} slow connections: {status} in {(time.time() - t) * 1000:.1f} ms")


def still_open():
    count = 0
    for s in conns:
        s.setblocking(False)
        try:
            if s.recv(1) != b"":
                count += 1
        except BlockingIOError:
            count += 1
        except OSError:
            pass
    return count


print("held right away:", still_open())
time.sleep(wait)
print(f"held after {wait:g} s:", still_open())
