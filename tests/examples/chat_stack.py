"""A chat deployment of the test's own: a redis-server on a free loopback
port (no persistence) and chat_server processes joined through it, each
started here, stopped by PID at the end (also when the test fails)."""

import os
import re
import signal
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self):
        self.port = free_port()
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start on port %d" % self.port)

    def kill(self):
        """SIGKILL: a crash, no goodbye to its clients."""
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port


class ChatServer:
    def __init__(self, bin_dir, listen, redis=None, secret="s3cret", history=50, extra=()):
        args = [os.path.join(bin_dir, "chat_server"), "--secret", secret,
                "--history", str(history)]
        for url in listen:
            args += ["--listen", url]
        if redis:
            args += ["--redis", redis]
        args += list(extra)
        self.args = args
        self.listen = listen
        self.start()

    def start(self):
        """Starts (or starts again: same arguments, same ports if they were given)."""
        self.out = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(self.args, stdout=self.out, stderr=subprocess.STDOUT,
                                     text=True)
        self.urls = {}
        deadline = time.time() + 10
        while time.time() < deadline:
            self.out.seek(0)
            text = self.out.read()
            found = re.findall(r"listening on (\w+)://([^ \n/]+)", text)
            if len(found) == len(self.listen) and ("rooms " in text):
                for scheme, hostport in found:
                    self.urls[scheme] = "%s://%s" % (scheme, hostport)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("chat_server did not start: " + self.output())

    def restart(self):
        """Starts again on the ports it had (those given as 0 included)."""
        self.stop()
        self.args = [self.urls[a.split(":")[0]] if a in self.listen and a.endswith(":0") else a
                     for a in self.args]
        self.listen = [self.urls[a.split(":")[0]] if a.endswith(":0") else a for a in self.listen]
        self.start()

    def kill(self):
        """SIGKILL: a crash; its clients' connections just end."""
        self.proc.kill()
        self.proc.wait()

    def output(self):
        self.out.seek(0)
        return self.out.read()

    def stop(self):
        """SIGTERM: a graceful stop; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("chat_server did not stop within 15 s")
        return self.proc.returncode


class Stack:
    """Redis and two chat_servers: A (ws + tcp) and B (ws)."""

    def __init__(self, bin_dir, secret="s3cret", history=50):
        self.bin_dir = bin_dir
        self.secret = secret
        self.redis = Redis()
        self.servers = []
        self.a = self.add(["ws://127.0.0.1:0", "tcp://127.0.0.1:0"], history)
        self.b = self.add(["ws://127.0.0.1:0"], history)

    def add(self, listen, history=50, extra=()):
        server = ChatServer(self.bin_dir, listen, self.redis.url, self.secret, history, extra)
        self.servers.append(server)
        return server

    def token(self, name):
        return subprocess.check_output(
            [os.path.join(self.bin_dir, "chat_server"), "--issue-token", name, "--secret",
             self.secret], text=True).strip()

    def close(self):
        for s in self.servers:
            try:
                s.stop()
            except Exception:
                s.proc.kill()
        self.redis.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
