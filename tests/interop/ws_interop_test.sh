#!/usr/bin/env bash
# WebSocket interop, real peers as clients of coronet's echo_server: Python
# `websockets` (Debian's python3-websockets) and Node `ws` (installed by
# scripts/setup.sh into tests/interop/node).  Each peer script checks text,
# binary, 1 MiB, empty and fragmented messages, ping/pong, pipelining and the
# close codes 1000 and 4000 "bye"; this script checks that the server saw
# 4000, logged nothing else, and still serves afterwards.
# Usage: ws_interop_test.sh BIN_DIR   (the directory of echo_server)
set -euo pipefail
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
log=$(mktemp -d "${TMPDIR:-/tmp}/coronet-ws-interop.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$log"' EXIT

command -v node >/dev/null || { echo "FAIL: node is not installed: run scripts/setup.sh"; exit 1; }
[ -d "$here/node/node_modules/ws" ] ||
  { echo "FAIL: $here/node/node_modules/ws is missing: run scripts/setup.sh"; exit 1; }

: >"$log/server.out" # exists before the server's redirection opens it (else set -e ends us)
"$bin/echo_server" --listen "ws://127.0.0.1:0/echo" >"$log/server.out" 2>"$log/server.err" &
server=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's|.*listening on ws://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$log/server.out" || true)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { echo "FAIL: echo_server did not start: $(cat "$log/server.err")"; exit 1; }
url="ws://127.0.0.1:$port/echo"

alive() {
  kill -0 "$server" 2>/dev/null ||
    { echo "FAIL: echo_server died after $1: $(cat "$log/server.err")"; exit 1; }
}

peer() { # NAME CMD...: runs a peer client, bounded
  local name=$1; shift
  if ! timeout 60 "$@" >"$log/$name.out" 2>&1; then
    echo "FAIL: $name client against $url:"; cat "$log/$name.out"
    echo "--- echo_server stderr:"; cat "$log/server.err"
    exit 1
  fi
  grep -q "all client checks passed" "$log/$name.out" ||
    { echo "FAIL: $name client did not finish its checks:"; cat "$log/$name.out"; exit 1; }
  echo "$name client -> coronet echo_server: $(grep -c ': ok ' "$log/$name.out") checks passed"
  alive "the $name client"
}

peer python /usr/bin/python3 "$here/py_peer.py" client "$url"
peer node node "$here/node_peer.js" client "$url"

# The server saw each client's 4000 (its echo loop logs the code); nothing else went wrong.
closes=$(grep -c "the peer closed the WebSocket with 4000" "$log/server.err" || true)
[ "$closes" = 2 ] ||
  { echo "FAIL: echo_server should have logged two 4000 closes: $(cat "$log/server.err")"; exit 1; }
others=$(grep -v "the peer closed the WebSocket with 4000" "$log/server.err" || true)
[ -z "$others" ] || { echo "FAIL: echo_server logged errors: $others"; exit 1; }

# Still accepting: a coronet client after the peers.
timeout 30 "$bin/echo_client" --connect "$url" --messages 100 --size 1000 >"$log/client.out" 2>&1 ||
  { echo "FAIL: echo_client after the peers: $(cat "$log/client.out")"; exit 1; }
timeout 30 /usr/bin/python3 "$here/py_peer.py" client "$url" >"$log/again.out" 2>&1 ||
  { echo "FAIL: python client, second run: $(cat "$log/again.out")"; exit 1; }
alive "the second round"

kill -INT "$server"
for _ in $(seq 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$server" 2>/dev/null; then
  kill -KILL "$server"; echo "FAIL: echo_server did not stop within 10 s of SIGINT"; exit 1
fi
status=0; wait "$server" || status=$?
[ "$status" = 0 ] || { echo "FAIL: echo_server exited $status on SIGINT"; exit 1; }
echo "ws interop (peer clients): all checks passed"
