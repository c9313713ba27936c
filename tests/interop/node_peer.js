#!/usr/bin/env node
// Node `ws` peer for coronet's WebSocket interop tests (ws installed by
// scripts/setup.sh into tests/interop/node/node_modules).
//
//   node node_peer.js server       echo server on 127.0.0.1, a free port; prints
//                                  "port N", then one "closed CODE REASON" line
//                                  per connection; exits on stdin EOF or after 60 s.
//   node node_peer.js client URL   scripted checks against an echo server
//                                  (coronet's echo_server); exits non-zero on
//                                  the first mismatch.
//
// Server commands (text messages): "please close" -> close with 4000 "bye";
// "ping me" -> ping, then send "pong received" (or "pong timeout");
// "fragments please" -> text "fragmented text" and binary 00 01 02, each sent
// as three frames.  The server also pings every connection once right after
// it opens.
'use strict';

const path = require('path');
let WebSocket;
try {
  WebSocket = require(path.join(__dirname, 'node', 'node_modules', 'ws'));
} catch (e) {
  console.error('node_peer: FAIL: cannot load ws (' + e.message + '): run scripts/setup.sh');
  process.exit(1);
}

const LIMIT = 60000; // ms, for any run
const STEP = 10000;  // ms, for any one exchange
const BIG = 1 << 20;

function pattern(n, seed) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; ++i) b[i] = (seed + i * 7) & 0xff;
  return b;
}

function fail(what) {
  console.error('node_peer: FAIL: ' + what);
  process.exit(1);
}

// ---- server -----------------------------------------------------------------

function serve() {
  const wss = new WebSocket.WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * BIG });
  wss.on('listening', () => console.log('port ' + wss.address().port));
  wss.on('error', (e) => fail('server: ' + e.message));
  wss.on('connection', (ws) => {
    let pingTimer = null;
    ws.on('error', (e) => console.error('node_peer: server connection error: ' + e.message));
    ws.ping('hello ping'); // unprompted: coronet must answer it
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.toString() === 'please close') {
        ws.close(4000, 'bye');
        return;
      }
      if (!isBinary && data.toString() === 'fragments please') {
        ws.send('frag', { fin: false }); // one message, three frames
        ws.send('mented ', { fin: false });
        ws.send('text', { fin: true });
        ws.send(Buffer.from([0, 1]), { binary: true, fin: false });
        ws.send(Buffer.alloc(0), { binary: true, fin: false });
        ws.send(Buffer.from([2]), { binary: true, fin: true });
        return;
      }
      if (!isBinary && data.toString() === 'ping me') {
        ws.ping('node-ping');
        pingTimer = setTimeout(() => {
          pingTimer = null;
          ws.send('pong timeout');
        }, STEP);
        return;
      }
      ws.send(data, { binary: isBinary }); // text stays text, binary stays binary
    });
    ws.on('pong', (data) => {
      if (pingTimer && data.toString() === 'node-ping') {
        clearTimeout(pingTimer);
        pingTimer = null;
        ws.send('pong received');
      }
    });
    ws.on('close', (code, reason) => {
      if (pingTimer) clearTimeout(pingTimer);
      console.log('closed ' + code + ' ' + reason.toString());
    });
  });
  const stop = () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    process.exit(0);
  };
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  setTimeout(stop, LIMIT).unref();
}

// ---- client -----------------------------------------------------------------

// One connection with a queue of incoming events, awaited one at a time.
class peer {
  constructor(url) {
    this.events = [];
    this.waiting = null;
    this.ws = new WebSocket(url, { maxPayload: 64 * BIG, handshakeTimeout: STEP });
    const push = (e) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(e);
      } else {
        this.events.push(e);
      }
    };
    this.ws.on('open', () => push({ type: 'open' }));
    this.ws.on('message', (data, isBinary) => push({ type: 'message', data, isBinary }));
    this.ws.on('pong', (data) => push({ type: 'pong', data }));
    this.ws.on('close', (code, reason) => push({ type: 'close', code, reason: reason.toString() }));
    this.ws.on('error', (e) => push({ type: 'error', message: e.message }));
  }
  next(what) {
    if (this.events.length) return Promise.resolve(this.events.shift());
    return new Promise((resolve) => {
      const t = setTimeout(() => fail(what + ': nothing within ' + STEP / 1000 + ' s'), STEP);
      this.waiting = (e) => {
        clearTimeout(t);
        resolve(e);
      };
    });
  }
  async expect(type, what) {
    const e = await this.next(what);
    if (e.type !== type) fail(what + ': expected ' + type + ', got ' + JSON.stringify(e));
    return e;
  }
}

async function open(url) {
  const p = new peer(url);
  await p.expect('open', 'open ' + url);
  return p;
}

async function echo(p, msg, binary, what) {
  p.ws.send(msg, { binary });
  const e = await p.expect('message', what);
  if (e.isBinary !== binary)
    fail(what + ': sent ' + (binary ? 'binary' : 'text') + ', got ' +
         (e.isBinary ? 'binary' : 'text') + ' back');
  if (!Buffer.from(msg).equals(e.data))
    fail(what + ': echo differs (sent ' + Buffer.from(msg).length + ', got ' + e.data.length + ')');
  console.log('node_peer: ok ' + what);
}

async function expectClose(p, code, reason, what) {
  p.ws.close(code, reason);
  const e = await p.expect('close', what);
  // e.code is the code of the close frame the server sent back.
  if (e.code !== code)
    fail(what + ': closed with ' + code + ', server answered ' + e.code + ' "' + e.reason + '"');
  console.log('node_peer: ok ' + what + ' (server answered ' + e.code + ' "' + e.reason + '")');
}

async function client(url) {
  let p = await open(url);
  await echo(p, 'hello from node', false, 'text');
  await echo(p, 'h\u00e9llo w\u00f6rld \u2603 \u{1F600}', false, 'utf-8 text');
  await echo(p, pattern(1000, 3), true, 'binary');
  await echo(p, pattern(BIG, 5), true, '1 MiB binary');
  await echo(p, '', false, 'empty text');
  await echo(p, Buffer.alloc(0), true, 'empty binary');
  // fragmented: one message sent as several frames
  p.ws.send('frag', { fin: false });
  p.ws.send('mented ', { fin: false });
  p.ws.send('text', { fin: true });
  let e = await p.expect('message', 'fragmented text');
  if (e.isBinary || e.data.toString() !== 'fragmented text')
    fail('fragmented text: got ' + JSON.stringify(e.data.toString()));
  console.log('node_peer: ok fragmented text');
  // the server answers a ping with a pong carrying the same payload
  p.ws.ping('are you there');
  e = await p.expect('pong', 'ping');
  if (e.data.toString() !== 'are you there') fail('ping: pong carried ' + JSON.stringify(e.data.toString()));
  console.log('node_peer: ok ping/pong');
  // many messages, order kept
  for (let i = 0; i < 200; ++i) p.ws.send(String(i));
  for (let i = 0; i < 200; ++i) {
    e = await p.expect('message', 'pipelined ' + i);
    if (e.data.toString() !== String(i))
      fail('pipelined: expected ' + i + ', got ' + JSON.stringify(e.data.toString()));
  }
  console.log('node_peer: ok 200 pipelined');
  await expectClose(p, 1000, '', 'close 1000');

  p = await open(url);
  await echo(p, 'before close', false, 'text');
  await expectClose(p, 4000, 'bye', 'close 4000 bye');
  console.log('node_peer: all client checks passed');
}

const [mode, url] = process.argv.slice(2);
if (mode === 'server' && !url) {
  serve();
} else if (mode === 'client' && url) {
  setTimeout(() => fail('client checks did not finish within ' + LIMIT / 1000 + ' s'), LIMIT).unref();
  client(url).then(() => process.exit(0), (e) => fail(e.stack || String(e)));
} else {
  console.error('usage: node node_peer.js server | client URL');
  process.exit(2);
}
