"""linkem's own tests: real kernel UDP and TCP across the emulated link.

  linkem_test.py PATH/TO/linkem

- a round trip through --delay 25ms takes 50 ms (within 10%), and --jitter
  spreads it without reordering;
- --loss 5% loses 5% each way (within 4 standard deviations), the same
  packets again with the same seed, other ones with another seed;
- --rate 10mbit carries TCP at 10 Mbit/s (within 5%, counting headers);
- the client's exit status comes back, bad flags get a clear error and 125;
- killed with SIGKILL, linkem leaves no process and no device behind.

Skips (exit 77) with linkem's own reason where TUN devices or namespaces are
not available (not root, no /dev/net/tun).
"""
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

LINKEM = os.path.abspath(sys.argv[1])
PEER = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer.py")]
PEER_CMD = " ".join(PEER)
failures = []


def check(ok, what):
    print(("ok:   " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        failures.append(what)


def linkem(flags, server, client, timeout=60):
    """Runs linkem; returns (exit status, client's stdout, the stats JSON)."""
    with tempfile.TemporaryDirectory() as d:
        stats = os.path.join(d, "stats.json")
        cmd = [LINKEM, "run", "--quiet", "--stats", stats] + flags
        if server:
            cmd += ["--server", server]
        cmd += ["--"] + client
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if p.stderr.strip():
            print(p.stderr.strip())
        data = json.load(open(stats)) if os.path.exists(stats) else None
        return p.returncode, p.stdout, data


def ping(flags, count=200, interval_ms=10):
    rc, out, stats = linkem(flags, PEER_CMD + " udp-echo 9000",
                            PEER + ["udp-ping", "9000", str(count), str(interval_ms)])
    assert rc == 0, "udp-ping exited with %d" % rc
    return json.loads(out), stats


def within_sd(observed, n, p, sds=4):
    sd = math.sqrt(n * p * (1 - p))
    return abs(observed - n * p) <= sds * sd + 1


def test_delay():
    result, _ = ping(["--delay", "25ms"], count=100)
    median = statistics.median(result["rtts_ms"])
    check(result["received"] == 100, "no loss without --loss (%d of 100)" % result["received"])
    check(abs(median - 50) <= 5, "RTT through --delay 25ms is 50 ms within 10%% (median %.2f ms)"
          % median)
    result, _ = ping(["--delay", "10ms", "--jitter", "10ms"], count=200, interval_ms=25)
    rtts = result["rtts_ms"]
    check(min(rtts) >= 19.5 and max(rtts) <= 45,
          "--delay 10ms --jitter 10ms: RTTs within 20..40 ms (%.1f..%.1f)" % (min(rtts), max(rtts)))
    check(statistics.pstdev(rtts) > 2, "jitter spreads the RTTs (sd %.1f ms)"
          % statistics.pstdev(rtts))


def test_loss():
    result, stats = ping(["--loss", "5%", "--seed", "7"], count=2000, interval_ms=1)
    up, down = stats["uplink"], stats["downlink"]
    check(within_sd(up["lost"], up["packets"], 0.05),
          "uplink lost %d of %d, about 5%%" % (up["lost"], up["packets"]))
    check(within_sd(down["lost"], down["packets"], 0.05),
          "downlink lost %d of %d, about 5%%" % (down["lost"], down["packets"]))
    expected = 2000 * 0.95 * 0.95
    sd = math.sqrt(2000 * 0.9025 * 0.0975)
    check(abs(result["received"] - expected) <= 4 * sd,
          "echoes back %d of 2000, about 90.25%%" % result["received"])
    check(result["received"] == 2000 - up["lost"] - down["lost"],
          "what the client misses is what linkem dropped")
    again, stats2 = ping(["--loss", "5%", "--seed", "7"], count=2000, interval_ms=1)
    check(stats2["uplink"]["lost"] == up["lost"] and stats2["downlink"]["lost"] == down["lost"],
          "the same seed drops the same packets (%d/%d and %d/%d)"
          % (up["lost"], stats2["uplink"]["lost"], down["lost"], stats2["downlink"]["lost"]))
    other, stats3 = ping(["--loss", "5%", "--seed", "8"], count=2000, interval_ms=1)
    check((stats3["uplink"]["lost"], stats3["downlink"]["lost"]) != (up["lost"], down["lost"]),
          "another seed, other drops")
    result, stats = ping(["--burst", "gilbert(0.02,0.25)"], count=2000, interval_ms=1)
    share = 0.02 / (0.02 + 0.25)
    check(abs(stats["uplink"]["burst_lost"] / stats["uplink"]["packets"] - share) < 0.04,
          "Gilbert bursts lose their stationary share (%.3f of %.3f)"
          % (stats["uplink"]["burst_lost"] / stats["uplink"]["packets"], share))


def tcp_goodput(flags, port, link_bits_per_second, what):
    """Checks TCP's goodput through `flags` against a link of that speed:
    each 1500-byte packet carries 1448 bytes of payload (20 IP + 32 TCP with
    timestamps).  Returns linkem's stats."""
    rc, out, stats = linkem(flags, PEER_CMD + " tcp-source %d" % port,
                            PEER + ["tcp-sink", str(port), "4", "1"])
    check(rc == 0, "tcp-sink through %s exits 0 (%d)" % (what, rc))
    r = json.loads(out)
    goodput = r["bytes"] * 8 / r["seconds"]
    expected = link_bits_per_second * 1448 / 1500
    check(abs(goodput / expected - 1) <= 0.05,
          "TCP goodput through %s: %.2f Mbit/s, expected %.2f within 5%%"
          % (what, goodput / 1e6, expected / 1e6))
    return stats


def test_rate():
    stats = tcp_goodput(["--rate", "10mbit", "--queue", "100"], 9001, 10e6, "--rate 10mbit")
    check(stats["downlink"]["queue_dropped"] > 0, "the 100-packet queue overflowed (%d tail drops)"
          % stats["downlink"]["queue_dropped"])


def test_trace():
    with tempfile.NamedTemporaryFile("w", suffix=".trace", delete=False) as f:
        # one 1500-byte opportunity per ms: 12 Mbit/s
        f.write("".join("%d\n" % ms for ms in range(1, 101)))
    try:
        tcp_goodput(["--trace", f.name], 9002, 12e6, "a 1-packet-per-ms trace")
    finally:
        os.unlink(f.name)


def test_status_and_errors():
    rc, _, _ = linkem([], None, ["sh", "-c", "exit 3"])
    check(rc == 3, "the client's exit status comes back (%d)" % rc)
    rc, _, _ = linkem([], None, ["sh", "-c", 'test "$LINKEM_SERVER_IP" = 10.64.0.2'])
    check(rc == 0, "LINKEM_SERVER_IP is set for the client")
    p = subprocess.run([LINKEM, "run", "--delay", "25 parsecs", "--", "true"],
                       stderr=subprocess.PIPE, text=True)
    check(p.returncode == 125 and "--delay" in p.stderr and "duration" in p.stderr,
          "a bad --delay says what it wants and exits 125: " + p.stderr.strip())
    p = subprocess.run([LINKEM, "run", "--server", "exit 4", "--", "true"],
                       stderr=subprocess.PIPE, text=True, timeout=30)
    check(p.returncode == 125 and "before opening a socket" in p.stderr,
          "a server that dies at once is reported: " + p.stderr.strip())


def test_cleanup_when_killed():
    marker = "linkem-test-%d" % os.getpid()
    before = set(os.listdir("/sys/class/net"))
    sleeper = "%s -c 'import time; time.sleep(600)' %s" % (sys.executable, marker)
    p = subprocess.Popen([LINKEM, "run", "--quiet", "--server",
                          "%s-server & %s udp-echo 9003" % (sleeper, PEER_CMD),
                          "--", "sh", "-c", sleeper + "-client"],
                         stdin=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline and "%s-client" % marker not in ps():
        time.sleep(0.1)
    check("%s-client" % marker in ps() and "%s-server" % marker in ps(),
          "the server's and the client's processes run")
    p.send_signal(signal.SIGKILL)
    p.wait()
    deadline = time.time() + 5
    while time.time() < deadline and marker in ps():
        time.sleep(0.1)
    check(marker not in ps(), "after SIGKILL no process of the run is left")
    check(set(os.listdir("/sys/class/net")) == before, "and no network device is left")


def ps():
    """Every process's command line (from /proc: procps may not be installed)."""
    lines = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    lines.append(f.read().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return "\n".join(lines)


def main():
    probe = subprocess.run([LINKEM, "check"], stdout=subprocess.PIPE, text=True)
    if probe.returncode != 0:
        print("SKIP: " + probe.stdout.strip())
        return 77
    for test in (test_status_and_errors, test_delay, test_loss, test_rate, test_trace,
                 test_cleanup_when_killed):
        print("--", test.__name__, flush=True)
        try:
            test()
        except Exception as e:  # a test that cannot finish is a failure, not a crash
            check(False, "%s raised %r" % (test.__name__, e))
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
