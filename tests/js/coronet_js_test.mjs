// coronet.js's policy without a network or a clock: a fake WebSocket the
// test opens and closes, fake timers that record each delay, a fake random.
// Run: node --test tests/js/coronet_js_test.mjs
import assert from "node:assert/strict";
import { test } from "node:test";
import { ReconnectingSocket, Rooms, backoff, isPermanentClose } from "../../examples/web/coronet.js";

// Each `new WebSocket` the socket makes, for the test to drive.
function harness(options = {}) {
  const sockets = [];
  const timers = [];
  let now = 0;
  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      sockets.push(this);
    }
    send(data) {
      assert.equal(this.readyState, 1, "send on an open socket only");
      this.sent.push(data);
    }
    close() {
      this.readyState = 3;
    }
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    drop(code = 1006, reason = "") {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }
    message(m) {
      this.onmessage?.({ data: typeof m === "string" ? m : JSON.stringify(m) });
    }
  }
  const states = [];
  const socket = new ReconnectingSocket("ws://test/chat", {
    WebSocket: FakeWebSocket,
    setTimeout: (f, ms) => timers.push({ f, ms }),
    clearTimeout: () => {},
    now: () => now,
    random: () => 0.5, // no jitter unless a test says otherwise
    onState: (s) => states.push(s),
    ...options,
  });
  const h = {
    socket, sockets, timers, states,
    get ws() { return sockets[sockets.length - 1]; },
    advance(ms) { now += ms; },
    // Fires the pending retry timer (and lets the async connect run).
    async retry() {
      const t = timers.shift();
      assert.ok(t, "a retry is scheduled");
      t.f();
      await new Promise((r) => setImmediate(r));
      return t.ms;
    },
  };
  return h;
}

const settle = () => new Promise((r) => setImmediate(r));

test("backoff: 1-2-4-8-16-30-30 s without jitter", async () => {
  const h = harness();
  await settle();
  const delays = [];
  for (let i = 0; i < 8; i++) {
    h.ws.drop(1006);
    delays.push(await h.retry());
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  assert.equal(h.states.filter((s) => s.state === "waiting").length, 8);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoff(n)), [1000, 2000, 4000, 8000, 16000, 30000]);
});

test("jitter: within ±50%, the extremes reached", async () => {
  for (const [r, factor] of [[0, 0.5], [0.999999, 1.5]]) {
    const h = harness({ random: () => r });
    await settle();
    const delays = [];
    for (let i = 0; i < 6; i++) {
      h.ws.drop(1006);
      delays.push(await h.retry());
    }
    const expected = [1000, 2000, 4000, 8000, 16000, 30000].map((d) => Math.round(d * factor));
    delays.forEach((d, i) => assert.ok(Math.abs(d - expected[i]) <= 1, `${d} vs ${expected[i]}`));
  }
});

test("the sequence starts over after a connection stayed up stableAfter", async () => {
  const h = harness();
  await settle();
  h.ws.drop(1006);
  assert.equal(await h.retry(), 1000);
  h.ws.open();
  h.ws.drop(1006); // at once: the sequence goes on
  assert.equal(await h.retry(), 2000);
  h.ws.open();
  h.advance(10000);
  h.ws.drop(1001);
  assert.equal(await h.retry(), 1000);
  assert.equal(h.socket.stats.losses, 2);
});

test("no retry after close 1008 or 4000-4999; 1011 is retried; maxAttempts", async () => {
  for (const code of [1008, 4001, 4999]) {
    const h = harness();
    await settle();
    h.ws.open();
    h.ws.drop(code, "no");
    assert.equal(h.socket.state, "given up");
    assert.equal(h.timers.length, 0);
    assert.equal(h.states.at(-1).code, code);
  }
  const h = harness();
  await settle();
  h.ws.open();
  h.ws.drop(1011);
  assert.equal(h.socket.state, "waiting");
  assert.ok(isPermanentClose(1008) && !isPermanentClose(1000) && !isPermanentClose(3000));

  const limited = harness({ maxAttempts: 3 });
  await settle();
  limited.ws.drop();
  await limited.retry();
  limited.ws.drop();
  await limited.retry();
  limited.ws.drop();
  assert.equal(limited.socket.state, "given up");
  assert.equal(limited.socket.stats.attempts, 3);
});

test("sends while down wait (bounded) and go out once, after onOpen, in order", async () => {
  const order = [];
  const h = harness({ queueLimit: 3, onOpen: (s) => order.push("onOpen") });
  await settle();
  for (const m of ["a", "b", "c", "d"]) h.socket.send(m); // "a" is dropped
  assert.equal(h.socket.dropped, 1);
  h.ws.open();
  assert.deepEqual(h.ws.sent, ["b", "c", "d"]);
  assert.deepEqual(order, ["onOpen"]);
  h.ws.drop();
  await h.retry();
  h.ws.open();
  assert.deepEqual(h.ws.sent, []); // nothing twice
  h.socket.send("e");
  assert.deepEqual(h.ws.sent, ["e"]);
});

test("close() stops it at once", async () => {
  const h = harness();
  await settle();
  h.ws.drop();
  h.socket.close();
  assert.equal(h.socket.state, "closed");
  await h.retry(); // the timer fires anyway: nothing happens
  assert.equal(h.sockets.length, 1);
});

test("Rooms: rejoins with since and epoch, and drops what was already shown", async () => {
  const h = harness();
  const got = [];
  const rooms = new Rooms(h.socket, {
    onJoined: (m) => got.push(["joined", m.history.map((x) => x.seq), m.recovered]),
    onMessage: (m) => got.push([m.type, m.seq]),
  });
  rooms.join("lobby");
  await settle();
  h.ws.open();
  assert.deepEqual(JSON.parse(h.ws.sent[0]), { type: "join", room: "lobby" });
  h.ws.message({ type: "joined", room: "lobby", epoch: "e1", history: [{ seq: 1 }, { seq: 2 }] });
  h.ws.message({ type: "message", room: "lobby", seq: 3 });
  h.ws.message({ type: "presence", room: "lobby", joined: "bob" });
  h.ws.drop();
  await h.retry();
  h.ws.open();
  assert.deepEqual(JSON.parse(h.ws.sent[0]), { type: "join", room: "lobby", since: 3, epoch: "e1" });
  // The server's catch-up overlaps what was shown (3), then goes on.
  h.ws.message({ type: "joined", room: "lobby", epoch: "e1", recovered: true,
                 history: [{ seq: 3 }, { seq: 4 }] });
  h.ws.message({ type: "message", room: "lobby", seq: 4 });
  h.ws.message({ type: "message", room: "lobby", seq: 5 });
  // A new epoch (the server started over): its numbers are new.
  h.ws.drop();
  await h.retry();
  h.ws.open();
  h.ws.message({ type: "joined", room: "lobby", epoch: "e2", recovered: false, history: [{ seq: 1 }] });
  assert.deepEqual(got, [
    ["joined", [1, 2], undefined], ["message", 3], ["presence", undefined],
    ["joined", [4], true], ["message", 5],
    ["joined", [1], false],
  ]);
  assert.equal(rooms.lastSeq("lobby"), 1);
});
