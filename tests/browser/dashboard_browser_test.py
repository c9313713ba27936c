#!/usr/bin/env python3
"""The dashboard page in headless Chromium: sensor_sim feeds dashboard_server
over udp://; a reading shows within 1 s; the server is killed and started
again on the same ports, the page shows "reconnecting", comes back, and
shows an alert raised while it was away.

Usage: dashboard_browser_test.py BIN_DIR SCREENSHOT.PNG
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
bin_dir, screenshot = sys.argv[1], sys.argv[2]
if not os.path.exists("/usr/bin/chromium") or not os.path.isdir(
        os.path.join(here, "node_modules", "puppeteer-core")):
    print("SKIP: needs /usr/bin/chromium and puppeteer-core (scripts/setup.sh installs them)")
    sys.exit(77)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


udp_port, web_port = free_port(socket.SOCK_DGRAM), free_port()
server_args = [os.path.join(bin_dir, "dashboard_server"), "--ingest", "udp://127.0.0.1:%d" % udp_port,
               "--listen", "ws://127.0.0.1:%d" % web_port, "--alert-after-ms", "200"]


def start_server():
    out = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(server_args, stdout=out, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 10
    while time.time() < deadline:
        out.seek(0)
        if "listening on" in out.read():
            return proc, out
        time.sleep(0.02)
    raise RuntimeError("dashboard_server did not start")


def reading(sensor, co2, t=33.3):
    return json.dumps({"sensor": sensor, "building": "b0", "t": t, "h": 40, "co2": co2,
                       "ts": int(time.time() * 1000)}).encode()


server, out = start_server()
sim = subprocess.Popen([os.path.join(bin_dir, "sensor_sim"), "--connect",
                        "udp://127.0.0.1:%d" % udp_port, "--sensors", "12", "--buildings", "3",
                        "--interval-ms", "250", "--excursion-rate", "0", "--duration-s", "90",
                        "--quiet"])
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
status = 1
try:
    page = subprocess.Popen(["node", os.path.join(here, "dashboard_page_test.js"),
                             "http://127.0.0.1:%d/" % web_port, screenshot],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    for line in page.stdout:  # its results, and what it asks of the harness
        print(line, end="", flush=True)
        ask = line.strip()
        answer = None
        if ask == "probe":
            answer = str(int(time.time() * 1000))
            probe.sendto(reading("probe", 777), ("127.0.0.1", udp_port))
        elif ask == "kill":
            server.kill()
            server.wait()
            answer = "killed"
        elif ask.startswith("restart"):
            server, out = start_server()
            # CO2 over the limit for longer than --alert-after-ms: an alert,
            # raised before the page's first retry (0.5 s at the earliest).
            for _ in range(3):
                probe.sendto(reading("probe-alarm", 1500, 22), ("127.0.0.1", udp_port))
                time.sleep(0.12)
            answer = "alerted"
        if answer is not None:
            page.stdin.write(answer + "\n")
            page.stdin.flush()
        if time.time() > deadline:
            page.kill()
    page.wait()
    status = page.returncode
finally:
    sim.kill()
    sim.wait()
    server.terminate()
    server.wait(15)
    probe.close()
if status:
    out.seek(0)
    print(out.read())
sys.exit(status)
