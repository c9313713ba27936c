// The Socket.IO 4 fan-out server fanout_bench measures coronet against,
// written as Socket.IO's documentation writes it: every client joins the
// room "bench" unless it is the publisher (?role=pub), and each "pub" event
// is emitted to the room.  With a Redis URL, @socket.io/redis-adapter joins
// several such processes.
//
//   node server.js PORT [redis://127.0.0.1:6379]        (PORT 0: any; printed)
"use strict";
const http = require("http");
const { Server } = require("socket.io");

async function main() {
  const [port, redisUrl] = process.argv.slice(2);
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    serveClient: false,
    transports: ["websocket"],
    perMessageDeflate: false,
  });
  if (redisUrl) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: redisUrl });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  io.on("connection", (socket) => {
    if (socket.handshake.query.role === "pub")
      socket.on("pub", (m) => io.to("bench").emit("msg", m));
    else
      socket.join("bench");
  });
  httpServer.listen(Number(port), "127.0.0.1", () => {
    console.log("socketio_server: listening on port " + httpServer.address().port);
  });
  const stop = () => { io.close(); process.exit(0); };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e) => { console.error(e); process.exit(1); });
