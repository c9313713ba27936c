#!/usr/bin/python3
"""Python `websockets` peer for coronet's WebSocket interop tests.

  py_peer.py server          echo server on 127.0.0.1, a free port; prints
                             "port N", then one "closed CODE REASON" line per
                             connection; exits on stdin EOF or after 60 s.
  py_peer.py client URL      scripted checks against an echo server (coronet's
                             echo_server); exits non-zero on the first mismatch.

TLS (wss://): the server takes --cert FILE --key FILE (PEM) and then serves
wss:// instead of ws://; the client takes --ca FILE for a wss:// URL (the
server's certificate is verified against it, host name included; without it,
the system's CAs).

Server commands (text messages): "please close" -> close with 4000 "bye";
"ping me" -> ping, then send "pong received" (or "pong timeout");
"fragments please" -> text "fragmented text" and binary 00 01 02, each sent
as three frames.
Uses the asyncio API of websockets 10.x (Debian's python3-websockets).
Run it with /usr/bin/python3.
"""
import argparse
import asyncio
import ssl
import sys
import threading

import websockets

LIMIT = 60  # seconds, for any run
STEP = 10  # seconds, for any one exchange
BIG = 1 << 20


def pattern(n, seed):
    return bytes((seed + i * 7) & 0xFF for i in range(n))


def fail(what):
    print("py_peer: FAIL: " + what, file=sys.stderr, flush=True)
    sys.exit(1)


# ---- server -----------------------------------------------------------------


async def handler(ws, path=None):
    try:
        async for m in ws:
            if m == "please close":
                await ws.close(4000, "bye")
                break
            if m == "fragments please":
                await ws.send(["frag", "mented ", "text"])  # one message, three frames
                await ws.send([b"\x00\x01", b"", b"\x02"])
                continue
            if m == "ping me":
                waiter = await ws.ping(b"py-ping")
                try:
                    await asyncio.wait_for(waiter, STEP)
                    await ws.send("pong received")
                except asyncio.TimeoutError:
                    await ws.send("pong timeout")
                continue
            await ws.send(m)  # str stays text, bytes stay binary
    except websockets.ConnectionClosed:
        pass
    try:
        await asyncio.wait_for(ws.wait_closed(), STEP)
    except asyncio.TimeoutError:
        pass
    print("closed %s %s" % (ws.close_code, ws.close_reason or ""), flush=True)


async def serve(tls=None):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def watch_stdin():
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result(None))

    threading.Thread(target=watch_stdin, daemon=True).start()
    # Keepalive pings every 0.2 s: a peer that does not answer them is
    # dropped with 1011 after ping_timeout.
    async with websockets.serve(handler, "127.0.0.1", 0, max_size=64 * BIG, ssl=tls,
                                ping_interval=0.2, ping_timeout=STEP) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print("port %d" % port, flush=True)
        try:
            await asyncio.wait_for(stop, LIMIT)
        except asyncio.TimeoutError:
            pass


# ---- client -----------------------------------------------------------------


TLS = None  # the client's SSLContext for wss:// URLs


async def open_(url):
    extra = {"ssl": TLS} if url.startswith("wss:") else {}
    return await websockets.connect(url, max_size=64 * BIG, open_timeout=STEP,
                                    close_timeout=STEP, ping_interval=None, **extra)


async def echo(ws, msg, what):
    await ws.send(msg)
    got = await asyncio.wait_for(ws.recv(), STEP)
    if type(got) is not type(msg):
        fail("%s: sent %s, got %s back" % (what, type(msg).__name__, type(got).__name__))
    if got != msg:
        fail("%s: echo differs (sent %d, got %d)" % (what, len(msg), len(got)))
    print("py_peer: ok %s" % what, flush=True)


async def expect_close(ws, code, reason, what):
    await asyncio.wait_for(ws.close(code, reason), STEP)
    await asyncio.wait_for(ws.wait_closed(), STEP)
    # close_code is the code of the close frame the server sent back.
    if ws.close_code != code:
        fail("%s: closed with %d, server answered %s %r" %
             (what, code, ws.close_code, ws.close_reason))
    print("py_peer: ok %s (server answered %s %r)" % (what, ws.close_code, ws.close_reason),
          flush=True)


async def client(url):
    ws = await open_(url)
    await echo(ws, "hello from python", "text")
    await echo(ws, "h\u00e9llo w\u00f6rld \u2603 \U0001F600", "utf-8 text")
    await echo(ws, pattern(1000, 3), "binary")
    await echo(ws, pattern(BIG, 5), "1 MiB binary")
    await echo(ws, "", "empty text")
    await echo(ws, b"", "empty binary")
    # fragmented: one message sent as several frames
    await ws.send(["frag", "mented ", "text"])
    got = await asyncio.wait_for(ws.recv(), STEP)
    if got != "fragmented text":
        fail("fragmented text: got %r" % got)
    print("py_peer: ok fragmented text", flush=True)
    # the server answers a ping with a pong carrying the same payload
    waiter = await ws.ping(b"are you there")
    try:
        await asyncio.wait_for(waiter, STEP)
    except asyncio.TimeoutError:
        fail("ping: no pong within %d s" % STEP)
    print("py_peer: ok ping/pong", flush=True)
    # many messages, order kept
    for i in range(200):
        await ws.send(str(i))
    for i in range(200):
        got = await asyncio.wait_for(ws.recv(), STEP)
        if got != str(i):
            fail("pipelined: expected %r, got %r" % (str(i), got))
    print("py_peer: ok 200 pipelined", flush=True)
    await expect_close(ws, 1000, "", "close 1000")

    ws = await open_(url)
    await echo(ws, "before close", "text")
    await expect_close(ws, 4000, "bye", "close 4000 bye")
    print("py_peer: all client checks passed", flush=True)


def main():
    global TLS
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["server", "client"])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--cert", help="server: certificate chain (PEM), serves wss://")
    parser.add_argument("--key", help="server: private key (PEM)")
    parser.add_argument("--ca", help="client: CA certificates (PEM) to verify the server with")
    args = parser.parse_args()
    if args.mode == "server":
        if args.url is not None or args.ca or bool(args.cert) != bool(args.key):
            parser.error("server takes no URL and no --ca; --cert and --key go together")
        tls = None
        if args.cert:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(args.cert, args.key)
        asyncio.run(serve(tls))
    else:
        if args.url is None or args.cert or args.key:
            parser.error("client takes a URL, and --ca at most")
        if args.url.startswith("wss:"):
            TLS = ssl.create_default_context(cafile=args.ca)
        try:
            asyncio.run(asyncio.wait_for(client(args.url), LIMIT))
        except SystemExit:
            raise
        except BaseException as e:  # a peer error: say which
            fail("%s: %s" % (type(e).__name__, e))


if __name__ == "__main__":
    main()
