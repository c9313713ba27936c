#!/usr/bin/env python3
"""fanout_bench: one room of N WebSocket members, a publisher, and how many
deliveries a second reach them and how late, for coronet's groups
(fanout_server) beside Socket.IO 4 (socketio/server.js, with
@socket.io/redis-adapter across processes), measured side by side in one
run by the same load (fanout_load).

  examples/bench/fanout_bench.py                    1,000 members, 3,000 messages, 3 rounds
  examples/bench/fanout_bench.py --quick            a short run (CI)
  examples/bench/fanout_bench.py --members 200 --messages 5000 --modes one

Modes: `one`, one server process; `redis`, two server processes joined by a
redis-server this script starts, the members split over them, the
publisher on the first.  The servers (and Redis) run pinned to core 0 and
the load to core 1; rounds alternate the systems, and the table has the
medians.  Server CPU per delivery is measured too (all server processes,
Redis included, from /proc), because one core of load may not be able to
drive the fastest server: then the deliveries/s ratio understates it and
the CPU ratio tells the rest.
"""

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(core):
    def setup():
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if core is not None:
            os.sched_setaffinity(0, {core})
    return setup


def cpu_seconds(pids):
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / ticks


class Process:
    def __init__(self, args, core, wait_for=None, cwd=None):
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, preexec_fn=pinned(core), cwd=cwd)
        self.port = None
        if wait_for:
            deadline = time.time() + 15
            while time.time() < deadline:
                line = self.proc.stdout.readline()
                if not line:
                    break
                m = re.search(wait_for, line)
                if m:
                    self.port = int(m.group(1))
                    return
            self.stop()
            raise RuntimeError("%s did not start" % args[0])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_redis(core):
    port = free_port()
    redis = Process(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"], core)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    redis.port = port
                    return redis
        except OSError:
            time.sleep(0.02)
    redis.stop()
    raise RuntimeError("redis-server did not start")


def start_server(system, args, redis_url, core):
    if system == "coronet":
        cmd = [os.path.join(args.bin, "fanout_server"), "--listen", "ws://127.0.0.1:0"]
        if redis_url:
            cmd += ["--redis", redis_url]
        return Process(cmd, core, r"listening on port (\d+)")
    cmd = ["node", os.path.join(HERE, "socketio", "server.js"), "0"]
    if redis_url:
        cmd.append(redis_url)
    return Process(cmd, core, r"listening on port (\d+)")


def one_run(system, mode, args, server_core, load_core, rate=0, messages=None):
    redis = start_redis(server_core) if mode == "redis" else None
    servers = []
    try:
        redis_url = "redis://127.0.0.1:%d" % redis.port if redis else None
        for _ in range(2 if mode == "redis" else 1):
            servers.append(start_server(system, args, redis_url, server_core))
        pids = [s.proc.pid for s in servers] + ([redis.proc.pid] if redis else [])
        cmd = [os.path.join(args.bin, "fanout_load"), "--protocol", system, "--members",
               str(args.members), "--messages", str(messages or args.messages), "--size",
               str(args.size), "--window", str(args.window), "--rate", str(rate)]
        for s in servers:
            cmd += ["--url", "ws://127.0.0.1:%d" % s.port]
        before = cpu_seconds(pids)
        load = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=pinned(load_core),
                              timeout=300)
        after = cpu_seconds(pids)
        if load.returncode not in (0, 3):
            raise RuntimeError("fanout_load failed: " + load.stderr.strip())
        r = json.loads(load.stdout.strip().splitlines()[-1])
        # CPU over the whole run (connects and warm-up too) per delivery made.
        deliveries = r["deliveries"] + args.members * 50  # (warm-up, roughly)
        r["server_cpu_us_per_delivery"] = (after - before) * 1e6 / max(deliveries, 1)
        return r
    finally:
        for s in servers:
            s.stop()
        if redis:
            redis.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=None, help="folder with fanout_server and fanout_load "
                   "(default: this build's examples/bench, or build/examples/bench)")
    p.add_argument("--members", type=int, default=1000)
    p.add_argument("--messages", type=int, default=3000, help="messages measured per run")
    p.add_argument("--size", type=int, default=64, help="payload bytes")
    p.add_argument("--window", type=int, default=16,
                   help="messages in flight (not yet at every member), at most")
    p.add_argument("--repeat", type=int, default=3, help="rounds (medians are reported)")
    p.add_argument("--paced-rate", type=int, default=100,
                   help="messages a second of the latency run (0: none), a load every "
                   "system keeps up with, so the latency is not the queue of a saturated one")
    p.add_argument("--paced-seconds", type=float, default=5)
    p.add_argument("--modes", default="one,redis", help="one, redis, or both")
    p.add_argument("--systems", default="coronet,socketio")
    p.add_argument("--quick", action="store_true", help="50 members, 500 messages, 1 round")
    args = p.parse_args()
    if args.quick:
        args.members, args.messages, args.repeat, args.paced_seconds = 50, 500, 1, 1
    if args.bin is None:
        for candidate in [os.path.dirname(os.path.abspath(sys.argv[0])),
                          os.path.join(os.getcwd(), "build", "examples", "bench")]:
            if os.path.exists(os.path.join(candidate, "fanout_load")):
                args.bin = candidate
                break
        else:
            sys.exit("fanout_bench: fanout_load not found: pass --bin (build/examples/bench)")

    systems = args.systems.split(",")
    if "socketio" in systems and (not shutil.which("node") or not os.path.isdir(
            os.path.join(HERE, "socketio", "node_modules", "socket.io"))):
        print("fanout_bench: Socket.IO rows skipped: needs node and npm's socket.io in "
              "examples/bench/socketio (scripts/setup.sh installs them)")
        systems.remove("socketio")
    modes = args.modes.split(",")
    if "redis" in modes and not shutil.which("redis-server"):
        print("fanout_bench: redis rows skipped: redis-server is not installed")
        modes.remove("redis")
    cores = sorted(os.sched_getaffinity(0))
    server_core, load_core = (cores[0], cores[1]) if len(cores) > 1 else (None, None)
    print("fanout_bench: %d members, %d messages of %d B, window %d, %d round(s); servers on "
          "core %s, load on core %s" % (args.members, args.messages, args.size, args.window,
                                        args.repeat, server_core, load_core), flush=True)

    results = {}
    for round_ in range(args.repeat):
        for mode in modes:
            order = systems if round_ % 2 == 0 else list(reversed(systems))
            for system in order:
                r = one_run(system, mode, args, server_core, load_core)
                if args.paced_rate:
                    paced = one_run(system, mode, args, server_core, load_core, args.paced_rate,
                                    int(args.paced_rate * args.paced_seconds))
                    r["paced_p50_us"], r["paced_p99_us"] = paced["p50_us"], paced["p99_us"]
                    r["missing"] += paced["missing"]
                results.setdefault((system, mode), []).append(r)
                print("  round %d %-8s %-5s %9.0f deliveries/s  p50 %7.0f us  p99 %7.0f us  "
                      "server CPU %.2f us/delivery%s%s" % (
                          round_ + 1, system, mode, r["deliveries_per_s"], r["p50_us"],
                          r["p99_us"], r["server_cpu_us_per_delivery"],
                          "; at %d msg/s p50 %.0f us p99 %.0f us" % (
                              args.paced_rate, r["paced_p50_us"], r["paced_p99_us"])
                          if args.paced_rate else "",
                          "  (%d missing)" % r["missing"] if r["missing"] else ""), flush=True)

    med = lambda xs: statistics.median(xs)
    paced = "at %d msg/s" % args.paced_rate
    print("\n| system | mode | deliveries/s (max) | p99 µs (max) | p50 µs %s | p99 µs %s "
          "| server CPU µs/delivery | missing |" % (paced, paced))
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    summary = {}
    keys = ["deliveries_per_s", "p50_us", "p99_us", "server_cpu_us_per_delivery", "missing"]
    if args.paced_rate:
        keys += ["paced_p50_us", "paced_p99_us"]
    for (system, mode), rs in results.items():
        s = {k: med([r[k] for r in rs]) for k in keys}
        summary[(system, mode)] = s
        print("| %s | %s | %.0f | %.0f | %s | %s | %.2f | %d |" % (
            system, mode, s["deliveries_per_s"], s["p99_us"],
            "%.0f" % s["paced_p50_us"] if args.paced_rate else "-",
            "%.0f" % s["paced_p99_us"] if args.paced_rate else "-",
            s["server_cpu_us_per_delivery"], s["missing"]))
    for mode in modes:
        c, s = summary.get(("coronet", mode)), summary.get(("socketio", mode))
        if c and s:
            print("\n%s: coronet / Socket.IO: %.1fx the deliveries/s, p99 at max %.2fx%s, "
                  "server CPU per delivery %.2fx" % (
                      mode, c["deliveries_per_s"] / s["deliveries_per_s"],
                      c["p99_us"] / s["p99_us"],
                      ", p99 %s %.2fx" % (paced, c["paced_p99_us"] / s["paced_p99_us"])
                      if args.paced_rate else "",
                      c["server_cpu_us_per_delivery"] / s["server_cpu_us_per_delivery"]))
    if any(s["missing"] for s in summary.values()):
        print("\nfanout_bench: some deliveries were missing (slow-consumer drops): see above")


if __name__ == "__main__":
    main()
