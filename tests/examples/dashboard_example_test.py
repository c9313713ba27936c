#!/usr/bin/env python3
"""The dashboard example as users meet it: dashboard_server ingesting from
sensor_sim over udp://, tcp:// and ws:// at once, a page's WebSocket (Python
websockets, as the browser would) following buildings, alerts raised and
recovered with since, and bad input counted and dropped.

Usage: dashboard_example_test.py BIN_DIR   (the folder with dashboard_server, sensor_sim)
"""

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import shutil

import websockets

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_stack import Redis  # noqa: E402

BIN = sys.argv[1]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


class Dashboard:
    def __init__(self, *extra):
        self.out = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "dashboard_server"), "--ingest", "udp://127.0.0.1:0",
             "--ingest", "tcp://127.0.0.1:0", "--ingest", "ws://127.0.0.1:0",
             "--listen", "ws://127.0.0.1:0"] + list(extra),
            stdout=self.out, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            text = self.output()
            ingest = re.findall(r"ingesting on (\w+://[\d.]+:\d+)", text)
            listen = re.findall(r"listening on ws://([\d.]+:\d+)", text)
            if len(ingest) == 3 and listen:
                self.ingest = {u.split(":")[0]: u for u in ingest}
                self.web = "127.0.0.1:%s" % listen[0].split(":")[1]
                return
            time.sleep(0.02)
        raise RuntimeError("dashboard_server did not start: " + self.output())

    def output(self):
        self.out.seek(0)
        return self.out.read()

    def stats(self):
        with urllib.request.urlopen("http://%s/stats" % self.web, timeout=5) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        return self.proc.returncode


def sim(url, prefix, *extra, readings=25):
    return subprocess.Popen(
        [os.path.join(BIN, "sensor_sim"), "--connect", url, "--prefix", prefix, "--sensors", "6",
         "--buildings", "2", "--interval-ms", "100", "--readings", str(readings), "--seed",
         str(ord(prefix)), "--quiet"] + list(extra))


class Page:
    def __init__(self, ws):
        self.ws = ws
        self.got = []

    @classmethod
    async def open(cls, web):
        return cls(await websockets.connect("ws://%s/live" % web, max_size=2**22))

    async def send(self, **m):
        await self.ws.send(json.dumps(m))

    async def until(self, pred, timeout=10):
        """Messages until one satisfies pred (returned); all kept in self.got."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                m = json.loads(await asyncio.wait_for(self.ws.recv(), deadline - time.time()))
            except asyncio.TimeoutError:
                break
            self.got.append(m)
            if pred(m):
                return m
        return None


async def main():
    d = Dashboard("--alert-after-ms", "300", "--max-sensors", "40", "--history", "100")
    try:
        page = await Page.open(d.web)
        await page.send(type="join", room="buildings")
        joined = await page.until(lambda m: m["type"] == "joined")
        check(joined is not None and joined["room"] == "buildings" and joined["history"] == [],
              "a page joins the list of buildings (empty at first)")

        sims = [sim(d.ingest["udp"], "u", "--excursion-rate", "0.5"),
                sim(d.ingest["tcp"], "t"),
                sim(d.ingest["ws"] + "/ingest", "w")]
        names = set()
        while len(names) < 2:
            m = await page.until(lambda m: m["type"] == "building")
            if m is None:
                break
            names.add(m["name"])
        check(names == {"b0", "b1"}, "buildings announced as readings arrive: %s" % sorted(names))
        for b in sorted(names):
            await page.send(type="join", room=b)
        first = time.time()
        readings = set()
        while time.time() - first < 8 and not {"u", "t", "w"} <= {s[0] for s in readings}:
            m = await page.until(lambda m: m["type"] == "reading", timeout=2)
            if m:
                readings.add(m["sensor"])
        check({"u", "t", "w"} <= {s[0] for s in readings},
              "readings from udp://, tcp:// and ws:// sensors reach the page: %d sensors seen"
              % len(readings))
        alert = await page.until(lambda m: m["type"] == "alert" and m["state"] == "raised", 10)
        check(alert is not None and alert["co2"] > 1000 and isinstance(alert.get("seq"), int),
              "a CO2 excursion raises a numbered alert: %s" % (alert,))
        for p in sims:
            p.wait(30)
        time.sleep(0.3)
        s = d.stats()
        check(s["readings"] >= 0.95 * 18 * 25 and s["sensors"] == 18 and s["buildings"] == 2,
              "every reading counted: %s" % s)
        snapshots = [m for m in page.got if m["type"] == "joined" and m["room"] != "buildings"]
        check(all("snapshot" in m and "aggregates" in m["snapshot"] for m in snapshots),
              "a building's join has a snapshot with aggregates")

        # ---- recovery: a page that comes back with since gets what it missed ----
        late = await Page.open(d.web)
        await late.send(type="join", room=alert["room"], since=0)
        everything = await late.until(lambda m: m["type"] == "joined")
        alerts = [h for h in everything["history"] if h["type"] == "alert"]
        check(alerts and alerts[0]["seq"] >= 1,
              "a page joining with since 0 gets the kept alerts (%d)" % len(alerts))
        await late.ws.close()
        back = await Page.open(d.web)
        since = alerts[-1]["seq"] - 1
        await back.send(type="join", room=alert["room"], since=since, epoch=everything["epoch"])
        caught = await back.until(lambda m: m["type"] == "joined")
        check(caught["recovered"] is True and [h["seq"] for h in caught["history"]]
              == [alerts[-1]["seq"]],
              "since N and the epoch: recovered, only what came after N")
        await back.send(type="join", room="b9", since=5, epoch="not-the-epoch")
        other = await back.until(lambda m: m["type"] == "joined")
        check(other["recovered"] is False, "another epoch: recovered false")
        await back.ws.close()

        # ---- bad input: counted and dropped, never fatal -------------------------
        before = d.stats()
        udp_host, udp_port = d.ingest["udp"][len("udp://"):].rsplit(":", 1)
        bad = [b"not json", b"{}", b"[1,2]", json.dumps({"sensor": "x1", "building": "b0"}).encode(),
               json.dumps({"sensor": "bad name!", "building": "b0", "t": 1, "h": 1, "co2": 1,
                           "ts": 1}).encode()]
        out_of_range = [json.dumps({"sensor": "r%d" % i, "building": "b0", "t": t, "h": 50,
                                    "co2": 500, "ts": 1}).encode() for i, t in enumerate([-100, 200, 1e308])]
        fresh = [json.dumps({"sensor": "n%d" % i, "building": "b5", "t": 20, "h": 50, "co2": 500,
                             "ts": 1}).encode() for i in range(30)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            for datagram in bad + out_of_range + fresh:
                u.sendto(datagram, (udp_host, int(udp_port)))
                time.sleep(0.002)
        time.sleep(0.5)
        after = d.stats()
        check(after["malformed"] - before["malformed"] == len(bad),
              "malformed readings counted and dropped: %d" % (after["malformed"] - before["malformed"]))
        check(after["out_of_range"] - before["out_of_range"] == len(out_of_range),
              "out-of-range readings counted and dropped: %d"
              % (after["out_of_range"] - before["out_of_range"]))
        check(after["sensors"] == 40 and after["refused"] - before["refused"] == 30 - (40 - 18),
              "new sensors accepted up to --max-sensors 40, the rest refused and counted: %s" % after)
        tcp_host, tcp_port = d.ingest["tcp"][len("tcp://"):].rsplit(":", 1)
        with socket.create_connection((tcp_host, int(tcp_port))) as t:
            t.sendall((100000).to_bytes(4, "big") + b"x" * 2000)  # over the 1 KiB limit
            t.settimeout(5)
            try:
                closed = t.recv(1) == b""
            except ConnectionResetError:
                closed = True
        check(closed, "a reading over the size limit closes that connection")
        taken = d.stats()["readings"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.sendto(b"{" + b" " * 3000 + b"}", (udp_host, int(udp_port)))
            u.sendto(json.dumps({"sensor": "u0", "building": "b0", "t": 20, "h": 50, "co2": 500,
                                 "ts": 1}).encode(), (udp_host, int(udp_port)))
        time.sleep(0.3)
        check(d.stats()["readings"] == taken + 1,
              "an oversized datagram is dropped; the next one from that sensor is taken")
        await page.send(type="dance")
        err = await page.until(lambda m: m["type"] == "error")
        await page.send(type="join", room="bad room name!")
        err2 = await page.until(lambda m: m["type"] == "error")
        check(err is not None and err2 is not None, "a page's bad request gets an error reply")
        check(d.stats()["readings"] >= after["readings"], "the server is still serving")
        await page.ws.close()
    finally:
        status = d.stop()
    check(status == 0, "dashboard_server stops cleanly on SIGTERM")
    if failures:
        print(d.output())
    if shutil.which("redis-server"):
        await shared_through_redis()
    else:
        print("SKIP (part): two dashboard_servers through Redis need redis-server "
              "(scripts/setup.sh installs it)")
    sys.exit(1 if failures else 0)


async def shared_through_redis():
    """Sensors talk to server A, the page to server B: readings, alerts and
    the list of buildings still reach it, through Redis."""
    redis = Redis()
    a = Dashboard("--redis", redis.url, "--alert-after-ms", "300")
    b = Dashboard("--redis", redis.url, "--alert-after-ms", "300")
    try:
        page = await Page.open(b.web)
        await page.send(type="join", room="buildings")
        await page.until(lambda m: m["type"] == "joined")
        feed = sim(a.ingest["tcp"], "r", "--excursion-rate", "0.5", readings=40)
        announced = await page.until(lambda m: m["type"] == "building")
        check(announced is not None, "--redis: a building first seen by server A is announced on B")
        if announced is None:
            return
        await page.send(type="join", room=announced["name"])
        reading = await page.until(lambda m: m["type"] == "reading")
        check(reading is not None and reading["sensor"].startswith("r"),
              "--redis: readings sent to A reach a page on B")
        alert = await page.until(lambda m: m["type"] == "alert", 10)
        check(alert is not None, "--redis: alerts raised by A reach a page on B: %s" % (alert,))
        feed.wait(30)
        if alert:
            late = await Page.open(b.web)
            await late.send(type="join", room=alert["room"], since=alert["seq"] - 1,
                            epoch=redis_epoch(redis, alert["room"]))
            joined = await late.until(lambda m: m["type"] == "joined")
            check(joined["recovered"] is True and joined["history"][0]["seq"] == alert["seq"],
                  "--redis: a page on B recovers A's alerts from the history in Redis")
            await late.ws.close()
        await page.ws.close()
    finally:
        for d in (a, b):
            d.stop()
        redis.stop()


def redis_epoch(redis, building):
    return subprocess.check_output(
        ["redis-cli", "-p", str(redis.port), "GET", "coronet:epoch:b:" + building],
        text=True).strip()


asyncio.run(main())
