#!/usr/bin/env bash
# The echo example as a user runs it: echo_server and echo_client binaries,
# plus a plain socket client for ?framing=raw.  Usage: echo_example_test.sh BIN_DIR
set -euo pipefail
bin=$1
log=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$log"' EXIT

start_server() { # URL -> sets port
  "$bin/echo_server" --listen "$1" >"$log/server.out" 2>"$log/server.err" &
  server=$!
  for _ in $(seq 100); do
    port=$(grep -o ':[0-9]*' "$log/server.out" 2>/dev/null | tail -1 | tr -d :) || true
    [ -n "${port:-}" ] && return 0
    sleep 0.05
  done
  echo "echo_server did not start: $(cat "$log/server.err")"; exit 1
}

expect_exit() { # CODE CMD...
  local want=$1; shift
  set +e; "$@" >"$log/out" 2>&1; local got=$?; set -e
  if [ "$got" != "$want" ]; then echo "FAIL: $* exited $got, expected $want: $(cat "$log/out")"; exit 1; fi
}

start_server "tcp://127.0.0.1:0"
timeout 60 "$bin/echo_client" --connect "tcp://127.0.0.1:$port" --messages 2000 --concurrency 4 --size 100
timeout 60 "$bin/echo_client" --connect "tcp://127.0.0.1:$port" --messages 2 --size $((4 * 1024 * 1024))
kill -INT "$server"; wait "$server"  # graceful stop exits 0

start_server "tcp://127.0.0.1:0?framing=raw"
timeout 60 "$bin/echo_client" --connect "tcp://127.0.0.1:$port?framing=raw" --messages 500 --size 3000
# any raw TCP client works: the bytes come back exactly as sent
timeout 20 /usr/bin/python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
data = bytes(range(256)) * 1000
s.sendall(data)
got = b""
while len(got) < len(data):
    chunk = s.recv(65536)
    assert chunk, "server closed early"
    got += chunk
assert got == data, "echo differs"
print("raw client: %d bytes echoed exactly" % len(got))
PY
kill -TERM "$server"; wait "$server"

start_server "udp://127.0.0.1:0"
timeout 60 "$bin/echo_client" --connect "udp://127.0.0.1:$port" --messages 1000 --concurrency 4 --size 200
kill -INT "$server"; wait "$server"

# fault injection: the client counts exactly the datagrams the server dropped
"$bin/echo_server" --listen "udp://127.0.0.1:0" --drop-every 10 >"$log/server.out" 2>"$log/server.err" &
server=$!
for _ in $(seq 100); do port=$(grep -o ':[0-9]*' "$log/server.out" | tail -1 | tr -d :) || true; [ -n "${port:-}" ] && break; sleep 0.05; done
timeout 60 "$bin/echo_client" --connect "udp://127.0.0.1:$port" --messages 100 --timeout-ms 100 >"$log/out"
grep -q "lost 10 of 100" "$log/out" || { echo "FAIL: expected 10 lost: $(cat "$log/out")"; exit 1; }
kill -INT "$server"; wait "$server"

# errors a user can act on
expect_exit 2 "$bin/echo_client" --connect "tcp:/127.0.0.1:1"
grep -q 'missing "://"' "$log/out"
expect_exit 2 "$bin/echo_server" --listen "tcp://127.0.0.1"
grep -q "needs a port" "$log/out"
closed_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect_exit 1 "$bin/echo_client" --connect "tcp://127.0.0.1:$closed_port"
grep -q "refused" "$log/out"

# a message over --max-message closes that connection with a logged reason, the server goes on
"$bin/echo_server" --listen "tcp://127.0.0.1:0" --max-message 1000 >"$log/server.out" 2>"$log/server.err" &
server=$!
for _ in $(seq 100); do port=$(grep -o ':[0-9]*' "$log/server.out" | tail -1 | tr -d :) || true; [ -n "${port:-}" ] && break; sleep 0.05; done
expect_exit 1 timeout 20 "$bin/echo_client" --connect "tcp://127.0.0.1:$port" --messages 1 --size 5000
timeout 20 "$bin/echo_client" --connect "tcp://127.0.0.1:$port" --messages 10 --size 1000 >/dev/null
grep -q "larger than the configured limit" "$log/server.err"
kill -INT "$server"; wait "$server"
echo "echo example: all checks passed"
