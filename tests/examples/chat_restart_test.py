#!/usr/bin/env python3
"""A real restart: chat_client processes over tcp://, ws:// and wss:// are
connected to a chat_server that is killed (SIGKILL) while another server
keeps the room busy through Redis, and started again on the same ports.
The clients come back by themselves, rejoin with the last seq they saw, and
each ends up with every message exactly once, in order.

Usage: chat_restart_test.py BIN_DIR
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import websockets

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_stack import Stack, free_port  # noqa: E402

BIN = sys.argv[1]
MESSAGES = 80
failures = []
if not shutil.which("redis-server") or not shutil.which("openssl"):
    print("SKIP: the restart test needs redis-server and openssl (scripts/setup.sh installs them)")
    sys.exit(77)


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


HERE = os.path.dirname(os.path.abspath(__file__))
NODE_WS = os.path.join(HERE, "..", "interop", "node", "node_modules", "ws")


class TerminalClient:
    """chat_client --json (or, with js=True, Node on coronet.js), its output
    lines collected by a thread."""

    def __init__(self, url, token, extra=(), js=False):
        self.url = url + (" (coronet.js)" if js else "")
        if js:
            args = ["node", os.path.join(HERE, "coronet_js_client.mjs"), url, token]
        else:
            args = [os.path.join(BIN, "chat_client"), "--json", "--connect", url, "--token", token,
                    "--room", "lobby", "--linger-ms", "200"] + list(extra)
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines, self.errors = [], []
        for stream, into in ((self.proc.stdout, self.lines), (self.proc.stderr, self.errors)):
            threading.Thread(target=self._read, args=(stream, into), daemon=True).start()

    @staticmethod
    def _read(stream, into):
        for line in stream:
            into.append(line.rstrip("\n"))

    def messages(self):
        out = []
        for line in list(self.lines):
            try:
                m = json.loads(line)
            except ValueError:
                continue
            out.append(m)
        return out

    def seqs(self):
        """Every room message seen: in the joined replies' history, and live."""
        seqs = []
        for m in self.messages():
            if m.get("type") == "joined":
                seqs += [h["seq"] for h in m.get("history", [])]
            elif m.get("type") == "message":
                seqs.append(m["seq"])
        return seqs

    def joins(self):
        return [m for m in self.messages() if m.get("type") == "joined"]

    def finish(self):
        self.proc.stdin.close()  # end of input: it leaves after --linger-ms
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


def wait_for(condition, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


async def publish(url, token, count, kill_after, on_kill):
    """Says 1..count in the lobby from server B, one every 40 ms; after
    `kill_after` of them, on_kill() (in a thread: it waits)."""
    async with websockets.connect(url + "/chat?token=" + token) as ws:
        await ws.send(json.dumps({"type": "join", "room": "lobby"}))
        while json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] != "joined":
            pass
        killer = None
        for i in range(1, count + 1):
            await ws.send(json.dumps({"type": "say", "room": "lobby", "text": "m%d" % i}))
            if i == kill_after:
                killer = asyncio.get_running_loop().run_in_executor(None, on_kill)
            await asyncio.sleep(0.04)
        await killer
        # Every say is numbered: wait for ours to come back.
        seen = 0
        while seen < count:
            m = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if m["type"] == "message":
                seen = m["seq"]


def main():
    pki = tempfile.mkdtemp()
    cert, key = os.path.join(pki, "cert.pem"), os.path.join(pki, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    try:
        with Stack(BIN) as stack:
            ports = [free_port() for _ in range(3)]
            c = stack.add(["tcp://127.0.0.1:%d" % ports[0], "ws://127.0.0.1:%d" % ports[1],
                           "wss://127.0.0.1:%d" % ports[2]], extra=["--cert", cert, "--key", key])
            clients = [
                TerminalClient("tcp://127.0.0.1:%d" % ports[0], stack.token("tcp-user")),
                TerminalClient("ws://127.0.0.1:%d/chat" % ports[1], stack.token("ws-user")),
                TerminalClient("wss://localhost:%d/chat" % ports[2], stack.token("wss-user"),
                               ["--ca", cert]),
            ]
            if shutil.which("node") and os.path.isdir(NODE_WS):
                clients.append(TerminalClient("ws://127.0.0.1:%d/chat" % ports[1],
                                              stack.token("js-user"), js=True))
            else:
                print("SKIP (part): the coronet.js client needs node and the ws package "
                      "(scripts/setup.sh installs them)")
            check(wait_for(lambda: all(cl.joins() for cl in clients), 10),
                  "chat_clients (tcp, ws, wss) and a coronet.js client joined #lobby on server C")
            killed_at = []

            def crash_and_restart():
                c.kill()
                killed_at.append(time.time())
                time.sleep(0.5)  # messages go on through server B meanwhile
                c.start()

            asyncio.run(publish(stack.b.urls["ws"], stack.token("publisher"), MESSAGES, 20,
                                crash_and_restart))
            print("server C killed after message 20 and started again 0.5 s later", flush=True)
            for cl in clients:
                got = wait_for(lambda: MESSAGES in cl.seqs(), 15)
                check(got, "%s: came back and caught up to seq %d" % (cl.url, MESSAGES))
            for cl in clients:
                status = cl.finish()
                seqs = cl.seqs()
                check(seqs == list(range(1, MESSAGES + 1)),
                      "%s: every message exactly once, in order (%d seen%s)" % (
                          cl.url, len(seqs), "" if seqs == list(range(1, MESSAGES + 1))
                          else ": " + " ".join(map(str, seqs))))
                joins = cl.joins()
                caught_up = [h["seq"] for h in joins[1]["history"]] if len(joins) == 2 else []
                check(len(joins) == 2 and joins[1].get("recovered") is True and caught_up,
                      "%s: rejoined once with since: recovered %s, %d messages from the history "
                      "(%s)" % (cl.url, [j.get("recovered") for j in joins], len(caught_up),
                                "-".join(map(str, caught_up[:1] + caught_up[-1:]))))
                check(any("reconnecting in" in e for e in cl.errors) and
                      any("reconnected" in e for e in list(cl.errors)),
                      "%s: said it was reconnecting, then reconnected" % cl.url)
                check(status == 0, "%s: exited cleanly at the end of its input" % cl.url)
                if failures:
                    print("\n".join(cl.errors))
    finally:
        shutil.rmtree(pki)
    sys.exit(1 if failures else 0)


main()
