"""Plain-socket peers for linkem's tests: what crosses the emulated link is
the kernel's own UDP and TCP, so the numbers are the link's, not coronet's.

  peer.py udp-echo PORT                      echo every datagram
  peer.py udp-ping PORT COUNT INTERVAL_MS    send COUNT numbered datagrams,
                                             print JSON {sent, received, rtts_ms}
  peer.py tcp-source PORT                    send bytes to each client, forever
  peer.py tcp-sink PORT SECONDS SKIP         read for SECONDS, print JSON
                                             {bytes, seconds} counted after SKIP s
"""
import json
import os
import socket
import struct
import sys
import time


def udp_echo(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        data, peer = s.recvfrom(65536)
        s.sendto(data, peer)


def udp_ping(port, count, interval_ms):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.connect((os.environ["LINKEM_SERVER_IP"], port))
    s.setblocking(False)
    sent_at = {}
    rtts = []
    seen = set()
    start = time.monotonic()
    deadline = start + count * interval_ms / 1000 + 2.0  # the last ones have 2 s
    i = 0
    while time.monotonic() < deadline:
        now = time.monotonic()
        while i < count and now >= start + i * interval_ms / 1000:
            sent_at[i] = time.monotonic()
            s.send(struct.pack("!I", i) + b"x" * 60)
            i += 1
        try:
            while True:
                data = s.recv(65536)
                n = struct.unpack("!I", data[:4])[0]
                if n not in seen:
                    seen.add(n)
                    rtts.append((time.monotonic() - sent_at[n]) * 1000)
        except BlockingIOError:
            pass
        if i == count and len(seen) == count:
            break
        time.sleep(0.0005)
    print(json.dumps({"sent": i, "received": len(seen), "rtts_ms": rtts}))


def tcp_source(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(8)
    block = b"y" * 65536
    while True:
        c, _ = s.accept()
        try:
            while True:
                c.sendall(block)
        except OSError:
            c.close()


def tcp_sink(port, seconds, skip):
    c = socket.create_connection((os.environ["LINKEM_SERVER_IP"], port), timeout=10)
    start = time.monotonic()
    counted = 0
    while True:
        data = c.recv(1 << 20)
        now = time.monotonic() - start
        if not data or now >= seconds:
            break
        if now >= skip:
            counted += len(data)
    print(json.dumps({"bytes": counted, "seconds": seconds - skip}))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "udp-echo":
        udp_echo(int(args[0]))
    elif mode == "udp-ping":
        udp_ping(int(args[0]), int(args[1]), float(args[2]))
    elif mode == "tcp-source":
        tcp_source(int(args[0]))
    elif mode == "tcp-sink":
        tcp_sink(int(args[0]), float(args[1]), float(args[2]))
    else:
        sys.exit("unknown mode " + mode)
