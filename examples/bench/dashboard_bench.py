#!/usr/bin/env python3
"""dashboard_bench: dashboard_server under a building's worth of load:
100,000 sensors each sending a reading every 5 s (20,000 readings/s,
sensor_sim) over udp:// and over tcp://, and 100 WebSocket subscribers
(dashboard_load) each following 2 of 20 buildings, so that every reading
goes to 10 of them.  Reports, per transport, the readings taken per
second, the server's CPU per reading (from /proc) and the end-to-end
latency, sensor to subscriber (p50, p99: from the reading's "ts", the
sensors' clock, so in whole milliseconds).

  examples/bench/dashboard_bench.py                 the full run (3 rounds, medians)
  examples/bench/dashboard_bench.py --quick         a short run (CI)
  examples/bench/dashboard_bench.py --sensors 20000 --seconds 10

The server runs pinned to core 1; the sensors and the subscribers share
core 0.  Where that one core cannot keep up (readings taken fall short of
sensors / interval), the table says so: then the server's CPU per reading
is the figure to read.
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import urllib.request


def pinned(core):
    def setup():
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if core is not None and core < os.cpu_count():
            os.sched_setaffinity(0, {core})
    return setup


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats(web):
    with urllib.request.urlopen("http://%s/stats" % web, timeout=5) as r:
        return json.loads(r.read())


def one_run(args, transport):
    server = subprocess.Popen(
        [os.path.join(args.dashboard, "dashboard_server"), "--ingest", "%s://127.0.0.1:0" % transport,
         "--listen", "ws://127.0.0.1:0", "--max-sensors", str(args.sensors * 2)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=pinned(1))
    ingest = web = None
    deadline = time.time() + 15
    while time.time() < deadline and not (ingest and web):
        line = server.stdout.readline()
        m = re.search(r"ingesting on (\S+)", line)
        if m:
            ingest = m.group(1)
        m = re.search(r"listening on ws://([\d.]+:\d+)", line)
        if m:
            web = m.group(1)
    if not (ingest and web):
        server.kill()
        raise RuntimeError("dashboard_server did not start")
    load = subprocess.Popen(
        [os.path.join(args.bench, "dashboard_load"), "--url", "ws://%s/live" % web,
         "--subscribers", str(args.subscribers), "--follow", "2", "--buildings",
         str(args.buildings), "--seconds", str(args.seconds), "--warmup",
         str(args.warmup + args.interval_ms / 1000)],
        stdout=subprocess.PIPE, text=True, preexec_fn=pinned(0))
    sim = subprocess.Popen(
        [os.path.join(args.dashboard, "sensor_sim"), "--connect", ingest, "--sensors",
         str(args.sensors), "--buildings", str(args.buildings), "--interval-ms",
         str(args.interval_ms), "--connections", "64", "--excursion-rate", "0",
         "--duration-s", str(args.warmup + args.interval_ms / 1000 + args.seconds + 2), "--quiet"],
        preexec_fn=pinned(0))
    try:
        # Measure over the subscribers' window: from the end of their warm-up
        # (every sensor has sent once) for `seconds`.
        time.sleep(args.warmup + args.interval_ms / 1000)
        cpu0, taken0 = cpu_seconds(server.pid), stats(web)["readings"]
        time.sleep(args.seconds)
        cpu1, taken1 = cpu_seconds(server.pid), stats(web)["readings"]
        out, _ = load.communicate(timeout=60)
        subscribers = json.loads(out.strip().splitlines()[-1])
    finally:
        sim.kill()
        sim.wait()
        server.terminate()
        server.wait(15)
    readings = taken1 - taken0
    return {
        "readings_per_s": readings / args.seconds,
        "cpu_us_per_reading": (cpu1 - cpu0) / max(readings, 1) * 1e6,
        "server_cpu": (cpu1 - cpu0) / args.seconds,
        "deliveries_per_s": subscribers["per_second"],
        "p50_ms": subscribers["p50_ms"],
        "p99_ms": subscribers["p99_ms"],
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", required=True,
                   help="the build's examples/bench folder (dashboard_load); the dashboard "
                        "programs are in ../dashboard")
    p.add_argument("--sensors", type=int, default=100000)
    p.add_argument("--interval-ms", type=int, default=5000)
    p.add_argument("--buildings", type=int, default=20)
    p.add_argument("--subscribers", type=int, default=100)
    p.add_argument("--seconds", type=float, default=20, help="measured, per run")
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--transports", default="udp,tcp")
    p.add_argument("--quick", action="store_true", help="2,000 sensors at 1 s, 10 subscribers, "
                   "one short round (checks that it runs; no figures to keep)")
    args = p.parse_args()
    args.bench = args.bin
    args.dashboard = os.path.join(args.bin, "..", "dashboard")
    if args.quick:
        args.sensors, args.interval_ms, args.subscribers = 2000, 1000, 10
        args.seconds, args.warmup, args.rounds = 3, 1, 1
    expected = args.sensors * 1000 / args.interval_ms
    print("dashboard_bench: %d sensors every %d ms (%.0f readings/s), %d subscribers following "
          "2 of %d buildings; %d round(s) of %.0f s per transport" % (
              args.sensors, args.interval_ms, expected, args.subscribers, args.buildings,
              args.rounds, args.seconds), flush=True)
    results = {}
    for r in range(args.rounds):
        for transport in args.transports.split(","):
            run = one_run(args, transport)
            print("  round %d %s: %s" % (r + 1, transport, json.dumps(run)), flush=True)
            results.setdefault(transport, []).append(run)
    print()
    print("| ingest | readings/s taken | server CPU per reading | server CPU | deliveries/s | p50 | p99 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    failed = False
    for transport, runs in results.items():
        med = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
        short = med["readings_per_s"] < 0.97 * expected
        failed |= med["readings_per_s"] < 0.5 * expected
        print("| %s | %.0f%s | %.1f µs | %.0f%% of a core | %.0f | %.0f ms | %.0f ms |" % (
            transport, med["readings_per_s"], " (short: the load core saturated)" if short else "",
            med["cpu_us_per_reading"], med["server_cpu"] * 100, med["deliveries_per_s"],
            med["p50_ms"], med["p99_ms"]))
    sys.exit(1 if failed else 0)


main()
