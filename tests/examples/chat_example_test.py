#!/usr/bin/env python3
"""The chat example as users meet it: two chat_server processes joined by a
redis-server this test starts, with real clients: Python websockets (as a
browser would), raw TCP sockets and chat_client.

Usage: chat_example_test.py BIN_DIR   (the folder with chat_server, chat_client)
"""

import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import jwt  # PyJWT, Debian's python3-jwt
import websockets

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_stack import Stack  # noqa: E402

BIN = sys.argv[1]
failures = []
if not shutil.which("redis-server"):
    print("SKIP: the chat test needs redis-server (scripts/setup.sh installs it)")
    sys.exit(77)


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


class Client:
    """A WebSocket chat client (what the page does)."""

    def __init__(self, ws, name):
        self.ws, self.name = ws, name

    @classmethod
    async def connect(cls, url, token, name):
        ws = await websockets.connect(url + "/chat?token=" + token, max_size=2**20)
        return cls(ws, name)

    async def send(self, **m):
        await self.ws.send(json.dumps(m))

    async def recv(self, timeout=5):
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def recv_type(self, type_, timeout=5):
        while True:
            m = await self.recv(timeout)
            if m["type"] == type_:
                return m

    async def messages(self, count, timeout=10):
        """The next `count` room messages (skipping presence)."""
        got = []
        deadline = time.time() + timeout
        while len(got) < count:
            m = await self.recv(max(0.1, deadline - time.time()))
            if m["type"] == "message":
                got.append(m)
        return got

    async def quiet(self, seconds=0.5):
        """Room messages that arrive within `seconds` (expecting none)."""
        got = []
        try:
            while True:
                m = await self.recv(seconds)
                if m["type"] == "message":
                    got.append(m)
        except asyncio.TimeoutError:
            return got


class LineClient:
    """A tcp:// client: one JSON object per line."""

    def __init__(self, url):
        host, port = url[len("tcp://"):].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.buf = b""

    def send(self, **m):
        self.sock.sendall(json.dumps(m).encode() + b"\n")

    def send_raw(self, line):
        self.sock.sendall(line)

    def recv(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def recv_type(self, type_):
        while True:
            m = self.recv()
            if m is None or m["type"] == type_:
                return m


async def refused_status(url):
    try:
        ws = await websockets.connect(url)
        await ws.close()
        return 101
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code


async def main():
    with Stack(BIN) as stack:
        a_ws, a_tcp, b_ws = stack.a.urls["ws"], stack.a.urls["tcp"], stack.b.urls["ws"]
        alice, bob, carol = stack.token("alice"), stack.token("bob"), stack.token("carol")

        # ---- tokens and auth ---------------------------------------------------
        claims = jwt.decode(alice, stack.secret, algorithms=["HS256"])
        check(claims["sub"] == "alice" and claims["exp"] - time.time() > 86000,
              "--issue-token: PyJWT reads a token for alice, valid for a day")
        expired = jwt.encode({"sub": "eve", "exp": int(time.time()) - 3600}, stack.secret,
                             algorithm="HS256")
        forged = jwt.encode({"sub": "eve"}, "not the secret", algorithm="HS256")
        for what, url in [("missing", a_ws + "/chat"), ("expired", a_ws + "/chat?token=" + expired),
                          ("wrong signature", a_ws + "/chat?token=" + forged)]:
            check(await refused_status(url) == 401, "a %s token gets 401 before the upgrade" % what)
        def http_status(path):
            try:
                with urllib.request.urlopen(a_ws.replace("ws:", "http:") + path, timeout=5) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, ""
        status, page = http_status("/")
        check(status == 200 and "<title>coronet chat</title>" in page, "GET / serves the page")
        check(http_status("/elsewhere")[0] == 404, "a plain request for another path gets 404")

        # ---- rooms across two processes ----------------------------------------
        a = await Client.connect(a_ws, alice, "alice")
        b = await Client.connect(b_ws, bob, "bob")
        await a.send(type="join", room="lobby")
        ja = await a.recv_type("joined")
        await asyncio.sleep(0.1)  # presence is written to Redis as members join
        await b.send(type="join", room="lobby")
        jb = await b.recv_type("joined")
        check(ja["room"] == "lobby" and ja["history"] == [], "join: joined, empty history")
        check(jb["members"] == ["alice", "bob"], "members across processes: %s" % jb["members"])

        tcp = LineClient(a_tcp)
        tcp.send(type="join", room="lobby")
        check(tcp.recv()["type"] == "error", "tcp: nothing before auth")
        tcp.send(type="auth", token=carol)
        check(tcp.recv_type("authenticated")["name"] == "carol", "tcp: auth with the first line")
        tcp.send(type="join", room="lobby")
        check(tcp.recv_type("joined")["members"] == ["alice", "bob", "carol"], "tcp: joined")

        # Both processes at once: each member gets every message once, seq 1, 2, 3...
        await asyncio.gather(*[c.send(type="say", room="lobby", text="%s %d" % (c.name, i))
                               for i in range(15) for c in (a, b)])
        for c in (a, b):
            got = await c.messages(30)
            seqs = [m["seq"] for m in got]
            check(seqs == list(range(1, 31)), "%s: 30 messages, seq 1..30 in order" % c.name)
            check(await c.quiet(0.3) == [], "%s: nothing twice" % c.name)
            mine = [m["text"] for m in got if m["from"] == c.name]
            check(mine == ["%s %d" % (c.name, i) for i in range(15)],
                  "%s: the sender is the token's name, own messages in order" % c.name)
        tcp_got = []
        while len(tcp_got) < 30:
            m = tcp.recv()
            if m["type"] == "message":
                tcp_got.append(m)
        check([m["seq"] for m in tcp_got] == list(range(1, 31)),
              "tcp client sees the same messages")
        check(all(isinstance(m["ts"], int) for m in tcp_got), "messages carry ts")

        # ---- wss://: the same rooms over TLS --------------------------------------
        pki = tempfile.mkdtemp()
        cert, key = os.path.join(pki, "cert.pem"), os.path.join(pki, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        c_wss = stack.add(["wss://127.0.0.1:0"], extra=["--cert", cert, "--key", key])
        tls = ssl.create_default_context(cafile=cert)
        secure = await websockets.connect(c_wss.urls["wss"] + "/chat?token=" + stack.token("tls"),
                                          ssl=tls)
        await secure.send(json.dumps({"type": "join", "room": "lobby"}))
        while json.loads(await asyncio.wait_for(secure.recv(), 5))["type"] != "joined":
            pass
        await a.send(type="say", room="lobby", text="to the TLS client")
        while True:
            m = json.loads(await asyncio.wait_for(secure.recv(), 5))
            if m["type"] == "message":
                break
        check(m["text"] == "to the TLS client" and m["seq"] == 31,
              "wss:// on a third server: the same room, the next seq")
        await secure.close()
        for c in (a, b):
            await c.messages(1)
        tcp.recv_type("message")
        shutil.rmtree(pki)

        # ---- history -----------------------------------------------------------
        late = await Client.connect(b_ws, stack.token("dave"), "dave")
        await late.send(type="join", room="lobby")
        history = (await late.recv_type("joined"))["history"]
        check([m["seq"] for m in history] == list(range(1, 32)), "history on join: all 31")
        await late.ws.close()

        # ---- bad input: an error, and the connection stays open -----------------
        for bad, what in [("{not json", "malformed JSON"), ('{"type":"dance"}', "unknown type"),
                          ('{"type":"say","room":"lobby"}', "missing field"),
                          (json.dumps({"type": "join", "room": "r" * 65}), "room over 64 bytes"),
                          (json.dumps({"type": "say", "room": "lobby", "text": "x" * 4097}),
                           "text over 4 KiB"),
                          ('{"type":"say","room":"nowhere","text":"hi"}', "a room not joined")]:
            await a.ws.send(bad)
            reply = await a.recv_type("error")
            check(bool(reply["message"]), "%s: error \"%s\"" % (what, reply["message"]))
        await a.send(type="say", room="lobby", text="still here")
        got = await a.messages(1)
        check(got[0]["text"] == "still here", "after bad input the connection still works")
        await b.messages(1)

        # ---- Redis killed and restarted mid-test ----------------------------------
        stack.redis.kill()
        time.sleep(0.3)
        await a.send(type="say", room="lobby", text="while redis is down")
        got = await a.messages(1)
        check(got[0]["text"] == "while redis is down", "Redis down: local delivery goes on")
        texts = []
        while "while redis is down" not in texts:
            m = tcp.recv_type("message")
            if m is None:
                break
            texts.append(m["text"])
        check("while redis is down" in texts, "Redis down: the other local client too")
        check(await b.quiet(0.5) == [], "Redis down: the other process does not get it")
        stack.redis.start()
        recovered = False
        for _ in range(50):
            await a.send(type="say", room="lobby", text="are you there")
            if [m for m in await b.quiet(0.2) if m["text"] == "are you there"]:
                recovered = True
                break
            await a.messages(1)
        check(recovered, "Redis back: remote delivery resumes")

        # ---- at most 32 rooms at once (paced under the rate limit) ---------------
        many = await Client.connect(b_ws, stack.token("roamer"), "roamer")
        for i in range(33):
            await many.send(type="join", room="many%d" % i)
            await asyncio.sleep(0.06)
        replies = []
        try:
            while True:
                m = await many.recv(1)
                if m["type"] in ("joined", "error"):
                    replies.append(m)
        except asyncio.TimeoutError:
            pass
        joins = [m for m in replies if m["type"] == "joined"]
        errors = [m for m in replies if m["type"] == "error"]
        check(len(joins) == 32 and len(errors) == 1 and "32 rooms" in errors[0]["message"],
              "a 33rd room at once: error %r" % (errors[0]["message"] if errors else None))
        await many.ws.close()

        # ---- flooding: close 1008 ------------------------------------------------
        flood = await Client.connect(a_ws, stack.token("mallory"), "mallory")
        try:
            for i in range(100):
                await flood.send(type="join", room="r%d" % i)
            while True:  # read (the replies) until the server closes
                await flood.recv(5)
        except websockets.exceptions.ConnectionClosed:
            pass
        check(flood.ws.close_code == 1008, "more than 20 messages a second: close 1008 (%s, %r)"
              % (flood.ws.close_code, flood.ws.close_reason))

        # ---- chat_client over tcp:// -------------------------------------------------
        client = subprocess.run(
            [os.path.join(BIN, "chat_client"), "--connect", a_tcp, "--token", stack.token("erin"),
             "--room", "side", "--linger-ms", "1500"],
            input="hello from the terminal\n", capture_output=True, text=True, timeout=30)
        check(client.returncode == 0 and "[#side] erin: hello from the terminal" in client.stdout,
              "chat_client says a line and prints it back: %r" % client.stdout)
        bad = subprocess.run([os.path.join(BIN, "chat_client"), "--connect", b_ws + "/chat",
                              "--token", forged, "--room", "x"],
                             capture_output=True, text=True, timeout=30)
        check(bad.returncode == 1 and "401" in bad.stderr, "chat_client with a bad token: %r"
              % bad.stderr.strip())

        for c in (a, b):
            await c.ws.close()
        for server in stack.servers:
            check(server.stop() == 0, "SIGTERM: a graceful stop, exit 0")

    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all chat checks passed")


asyncio.run(main())
