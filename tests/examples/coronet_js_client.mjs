// A chat client in Node on coronet.js (the page's client library), for the
// restart test: joins #lobby over ws:// and prints each joined reply and
// room message as a JSON line (what coronet.js hands the application), and
// its connection states on stderr.  Ends on SIGTERM or end of input.
//
// Usage: node coronet_js_client.mjs WS_URL TOKEN
import { createRequire } from "node:module";
import { ReconnectingSocket, Rooms } from "../../examples/web/coronet.js";

const require = createRequire(import.meta.url);
const WebSocket = require("../interop/node/node_modules/ws");

const [url, token] = process.argv.slice(2);
const socket = new ReconnectingSocket(url + "?token=" + encodeURIComponent(token), {
  WebSocket,
  onState: (s) => {
    if (s.state === "waiting")
      process.stderr.write(`* ${s.code} ${s.reason}; reconnecting in ${(s.delay / 1000).toFixed(1)} s\n`);
    else if (s.state === "open" && s.attempt > 1) process.stderr.write("* reconnected\n");
    else process.stderr.write(`* ${s.state}\n`);
  },
});
const rooms = new Rooms(socket, {
  onJoined: (m) => console.log(JSON.stringify(m)),
  onMessage: (m) => console.log(JSON.stringify(m)),
});
rooms.join("lobby");
const stop = () => {
  socket.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.stdin.on("end", () => setTimeout(stop, 200));
process.stdin.resume();
