// coronet.js: the browser side of coronet's reconnecting clients, one plain
// ES module (no build step), served by the examples at /coronet.js.
//
//   import { ReconnectingSocket, Rooms } from "/coronet.js";
//   const socket = new ReconnectingSocket("wss://example.com/chat?token=...", {
//     onState: (s) => show(s.state === "waiting" ? `reconnecting in ${s.delay / 1000} s…` : s.state),
//   });
//   const rooms = new Rooms(socket, {
//     onJoined: (m) => ..., // {"type":"joined",...}: history already without what was shown
//     onMessage: (m) => ..., // every other message; room messages once each, in order
//   });
//   rooms.join("lobby");
//
// ReconnectingSocket is coronet::reconnecting_channel's policy: the first
// retry after 1 s, doubling to 30 s (1-2-4-8-16-30-30…), each delay moved by
// up to ±50% at random, the sequence starting over once a connection has
// stayed up 10 s; no retry after close 1008 or 4000-4999; sends made while
// down wait in a bounded queue and go out after onOpen.  Rooms speaks the
// rooms protocol of coronet's examples ({"type":"join","room":R} answered
// by {"type":"joined","room":R,"epoch":E,"history":[...]}, messages with
// "room" and "seq"): after a reconnect it rejoins every room with the last
// seq it saw ("since") and the epoch, and drops what was already shown.

export const defaults = Object.freeze({
  initialDelay: 1000, // ms before the first retry
  maxDelay: 30000, // the doubling stops here
  jitter: 0.5, // ± this fraction of each delay, at random
  stableAfter: 10000, // ms up that start the sequence over
  maxAttempts: 0, // failures in a row before giving up (0: never)
  queueLimit: 1000, // messages held while down; more: the oldest go (counted in dropped)
});

/// True for the close codes retrying cannot fix: 1008 (policy violation:
/// a refused or expired token) and the application's 4000-4999.
export function isPermanentClose(code) {
  return code === 1008 || (code >= 4000 && code <= 4999);
}

/// The n-th delay (n = 1 for the first failure), in ms, before jitter.
export function backoff(n, options = defaults) {
  const o = { ...defaults, ...options };
  return Math.min(o.initialDelay * 2 ** Math.min(n - 1, 62), o.maxDelay);
}

/// A WebSocket that comes back by itself.
///
/// url: a string, or a function (possibly async) called before each attempt
/// (to put a fresh token in it).  Options: those in `defaults`, and
///   onOpen(socket)        each new connection, before the queued sends
///   onMessage(event)      each message (event.data)
///   onState(s)            {state: "connecting"|"open"|"waiting"|"given up"|"closed",
///                          attempt, delay (waiting, ms), code, reason}
///   retry(code, reason)   whether to try again after a close; default !isPermanentClose(code)
///   protocols             WebSocket subprotocols
///   WebSocket, random, setTimeout, clearTimeout, now: replacements for tests
///                         (and for Node, where WebSocket comes from the "ws" package)
export class ReconnectingSocket {
  constructor(url, options = {}) {
    this.url = url;
    this.options = { ...defaults, ...options };
    const o = this.options;
    this._WebSocket = o.WebSocket || globalThis.WebSocket;
    this._random = o.random || Math.random;
    this._setTimeout = o.setTimeout || ((f, ms) => setTimeout(f, ms));
    this._clearTimeout = o.clearTimeout || ((t) => clearTimeout(t));
    this._now = o.now || (() => Date.now());
    this.state = "connecting";
    this.failures = 0; // in a row since the last stable connection
    this.queue = [];
    this.dropped = 0;
    this.stats = { attempts: 0, connections: 0, losses: 0 };
    this._ws = null;
    this._timer = null;
    this._stopped = false;
    this._connect();
  }

  /// Sends now, or queues while there is no connection.
  send(data) {
    if (this._stopped) throw new Error("coronet.js: send on a closed socket");
    if (this.state === "open" && this.queue.length === 0) {
      this._ws.send(data);
      return;
    }
    if (this.queue.length >= this.options.queueLimit) {
      this.queue.shift();
      this.dropped++;
    }
    this.queue.push(data);
  }

  /// Stops for good (and closes the connection, if any).
  close(code = 1000, reason = "") {
    if (this._stopped) return;
    this._stopped = true;
    this._clearTimeout(this._timer);
    this.dropped += this.queue.length;
    this.queue = [];
    if (this._ws) {
      const ws = this._ws;
      this._ws = null;
      ws.onclose = ws.onmessage = ws.onopen = ws.onerror = null;
      try {
        ws.close(code, reason);
      } catch {
        /* already closing */
      }
    }
    this._setState("closed", { code, reason });
  }

  _setState(state, extra = {}) {
    this.state = state;
    if (this.options.onState) this.options.onState({ state, attempt: this.failures + 1, ...extra });
  }

  async _connect() {
    if (this._stopped) return;
    this._setState("connecting");
    this.stats.attempts++;
    let url;
    try {
      url = typeof this.url === "function" ? await this.url() : this.url;
    } catch (e) {
      return this._lost(1006, "no URL: " + e.message, null);
    }
    if (this._stopped) return;
    let ws;
    try {
      ws = new this._WebSocket(url, this.options.protocols);
    } catch (e) {
      return this._lost(1006, e.message, null); // (a malformed URL: retrying will not help)
    }
    this._ws = ws;
    let upSince = null;
    ws.onopen = () => {
      upSince = this._now();
      this.stats.connections++;
      this._setState("open");
      if (this.options.onOpen) this.options.onOpen(this);
      while (this.queue.length && this._ws === ws && ws.readyState === 1) ws.send(this.queue.shift());
    };
    ws.onmessage = (event) => {
      if (this.options.onMessage) this.options.onMessage(event);
    };
    ws.onerror = () => {}; // onclose follows, with the code
    ws.onclose = (event) => {
      if (this._ws !== ws) return;
      this._ws = null;
      if (upSince !== null) {
        this.stats.losses++;
        if (this._now() - upSince >= this.options.stableAfter) this.failures = 0;
      }
      this._lost(event.code, event.reason, upSince);
    };
  }

  _lost(code, reason) {
    if (this._stopped) return;
    this.failures++;
    const retry = this.options.retry ? this.options.retry(code, reason) : !isPermanentClose(code);
    const o = this.options;
    if (!retry || (o.maxAttempts && this.failures >= o.maxAttempts)) {
      this._stopped = true;
      this.dropped += this.queue.length;
      this.queue = [];
      this._setState("given up", { code, reason });
      return;
    }
    const base = backoff(this.failures, o);
    const delay = Math.max(0, Math.round(base * (1 + o.jitter * (2 * this._random() - 1))));
    this._setState("waiting", { delay, code, reason });
    this._timer = this._setTimeout(() => this._connect(), delay);
  }
}

/// Rooms over a ReconnectingSocket: join/leave, and after each reconnect a
/// rejoin of every room with the last seq seen, so the server's history
/// fills the gap; messages already shown are dropped.
///
/// Options: onJoined(message), onMessage(message) (parsed JSON; every
/// message that is not a "joined" or a room message already seen).
export class Rooms {
  constructor(socket, options = {}) {
    this.socket = socket;
    this.options = options;
    this.rooms = new Map(); // name -> {seq, epoch}
    const onOpen = socket.options.onOpen;
    socket.options.onOpen = (s) => {
      for (const name of this.rooms.keys()) s._ws.send(JSON.stringify(this._join(name)));
      if (onOpen) onOpen(s);
    };
    const onMessage = socket.options.onMessage;
    socket.options.onMessage = (event) => {
      this._receive(event);
      if (onMessage) onMessage(event);
    };
  }

  /// Joins `room` (now, or on the next connection).
  join(room) {
    if (this.rooms.has(room)) return;
    this.rooms.set(room, { seq: 0, epoch: "" });
    if (this.socket.state === "open") this.socket.send(JSON.stringify(this._join(room)));
  }

  leave(room) {
    if (!this.rooms.delete(room)) return;
    if (this.socket.state === "open") this.socket.send(JSON.stringify({ type: "leave", room }));
  }

  /// The last seq seen in `room` (0: none).
  lastSeq(room) {
    return this.rooms.has(room) ? this.rooms.get(room).seq : 0;
  }

  _join(room) {
    const r = this.rooms.get(room);
    const m = { type: "join", room };
    if (r.epoch) {
      m.since = r.seq;
      m.epoch = r.epoch;
    }
    return m;
  }

  _receive(event) {
    let m;
    try {
      m = JSON.parse(event.data);
    } catch {
      return;
    }
    const r = m && typeof m === "object" && this.rooms.get(m.room);
    if (r && m.type === "joined") {
      if (m.epoch !== r.epoch) r.seq = 0; // another numbering: nothing of it was seen
      r.epoch = m.epoch || "";
      m.history = (m.history || []).filter((h) => !(h.seq <= r.seq));
      for (const h of m.history) r.seq = Math.max(r.seq, h.seq || 0);
      if (this.options.onJoined) this.options.onJoined(m);
      return;
    }
    if (r && typeof m.seq === "number") {
      if (m.seq <= r.seq) return; // shown already
      r.seq = m.seq;
    }
    if (this.options.onMessage) this.options.onMessage(m);
  }
}
