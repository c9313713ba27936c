#!/usr/bin/env bash
# The echo example as a user runs it: echo_server and echo_client binaries,
# plus a plain socket client for ?framing=raw, unix://, and tls:// / wss:// with
# certificates made by the openssl command.  Usage: echo_example_test.sh BIN_DIR
set -euo pipefail
bin=$1
log=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$log"' EXIT

start_server() { # URL [ECHO_SERVER_ARGS...] -> sets port
  local url=$1; shift
  : >"$log/server.out" # not the previous server's port (the child truncates it only later)
  "$bin/echo_server" --listen "$url" "$@" >"$log/server.out" 2>"$log/server.err" &
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
start_server "udp://127.0.0.1:0" --drop-every 10
timeout 60 "$bin/echo_client" --connect "udp://127.0.0.1:$port" --messages 100 --timeout-ms 100 >"$log/out"
grep -q "lost 10 of 100" "$log/out" || { echo "FAIL: expected 10 lost: $(cat "$log/out")"; exit 1; }
kill -INT "$server"; wait "$server"

# unix://: a socket file with its mode, removed when the server stops
sock=$log/echo.sock
: >"$log/server.out"
"$bin/echo_server" --listen "unix://$sock?mode=0600" >"$log/server.out" 2>"$log/server.err" &
server=$!
for _ in $(seq 100); do grep -q "listening on unix://" "$log/server.out" && break; sleep 0.05; done
[ "$(stat -c %a "$sock")" = 600 ] || { echo "FAIL: $sock has mode $(stat -c %a "$sock")"; exit 1; }
timeout 60 "$bin/echo_client" --connect "unix://$sock" --messages 2000 --concurrency 4 --size 100
expect_exit 1 "$bin/echo_server" --listen "unix://$sock" # a live server's socket is not taken over
grep -q "a server is listening on" "$log/out"
kill -INT "$server"; wait "$server"
[ ! -e "$sock" ] || { echo "FAIL: $sock is still there after the server stopped"; exit 1; }

# errors a user can act on
expect_exit 2 "$bin/echo_client" --connect "tcp:/127.0.0.1:1"
grep -q 'missing "://"' "$log/out"
expect_exit 2 "$bin/echo_server" --listen "tcp://127.0.0.1"
grep -q "needs a port" "$log/out"
closed_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect_exit 1 "$bin/echo_client" --connect "tcp://127.0.0.1:$closed_port"
grep -q "refused" "$log/out"

# a message over --max-message closes that connection with a logged reason, the server goes on
start_server "tcp://127.0.0.1:0" --max-message 1000
expect_exit 1 timeout 20 "$bin/echo_client" --connect "tcp://127.0.0.1:$port" --messages 1 --size 5000
timeout 20 "$bin/echo_client" --connect "tcp://127.0.0.1:$port" --messages 10 --size 1000 >/dev/null
grep -q "larger than the configured limit" "$log/server.err"
kill -INT "$server"; wait "$server"

# TLS: a CA and a server certificate for localhost (ECDSA P-256), made with openssl
pki=$log/pki
mkdir -p "$pki"
ec_key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec_key[@]}" -keyout "$pki/ca.key" -out "$pki/ca.pem" -days 2 \
  -subj "/CN=echo test CA" 2>/dev/null
make_leaf() { # NAME EXTENSIONS
  openssl req -new "${ec_key[@]}" -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "/CN=$1" 2>/dev/null
  printf '%s\n' "$2" >"$pki/$1.ext"
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 2 -extfile "$pki/$1.ext" -out "$pki/$1.pem" 2>/dev/null
}
make_leaf server "subjectAltName=DNS:localhost"
make_leaf client "extendedKeyUsage=clientAuth"
tls_server=(--cert "$pki/server.pem" --key "$pki/server.key")

start_server "tls://127.0.0.1:0?framing=raw" "${tls_server[@]}"
timeout 60 "$bin/echo_client" --connect "tls://localhost:$port?framing=raw" --ca "$pki/ca.pem" \
  --messages 200 --concurrency 4 --size 3000
timeout 60 "$bin/echo_client" --connect "tls://localhost:$port?framing=raw" --ca "$pki/ca.pem" \
  --messages 2 --size $((4 * 1024 * 1024))
# without --ca the system's CA bundle is used, and it does not know our CA
expect_exit 1 timeout 20 "$bin/echo_client" --connect "tls://localhost:$port?framing=raw" --messages 1
grep -q "unknown CA" "$log/out" || { echo "FAIL: expected an unknown CA error: $(cat "$log/out")"; exit 1; }
# the certificate is for localhost, not for 127.0.0.1 ...
expect_exit 1 timeout 20 "$bin/echo_client" --connect "tls://127.0.0.1:$port?framing=raw" \
  --ca "$pki/ca.pem" --messages 1
grep -q "name mismatch" "$log/out"
# ... unless --server-name says which name to check
timeout 20 "$bin/echo_client" --connect "tls://127.0.0.1:$port?framing=raw" --ca "$pki/ca.pem" \
  --server-name localhost --messages 5 >/dev/null
# --insecure connects, and says loudly that nothing was verified
expect_exit 0 timeout 20 "$bin/echo_client" --connect "tls://localhost:$port?framing=raw" --insecure \
  --messages 5
grep -q "WARNING.*NOT verified" "$log/out"
# a plaintext client on the TLS port is closed; the server goes on
expect_exit 1 timeout 20 "$bin/echo_client" --connect "tcp://127.0.0.1:$port?framing=raw" --messages 1
timeout 20 "$bin/echo_client" --connect "tls://localhost:$port?framing=raw" --ca "$pki/ca.pem" \
  --messages 5 >/dev/null
kill -INT "$server"; wait "$server"

start_server "wss://127.0.0.1:0/echo" "${tls_server[@]}"
timeout 60 "$bin/echo_client" --connect "wss://localhost:$port/echo" --ca "$pki/ca.pem" \
  --messages 200 --concurrency 4 --size 1000
kill -INT "$server"; wait "$server"

# mutual TLS: the server asks for a client certificate signed by the CA
start_server "tls://127.0.0.1:0" "${tls_server[@]}" --client-ca "$pki/ca.pem"
timeout 60 "$bin/echo_client" --connect "tls://localhost:$port" --ca "$pki/ca.pem" \
  --cert "$pki/client.pem" --key "$pki/client.key" --messages 100
expect_exit 1 timeout 20 "$bin/echo_client" --connect "tls://localhost:$port" --ca "$pki/ca.pem" \
  --messages 1
kill -INT "$server"; wait "$server"

# TLS errors a user can act on
expect_exit 2 "$bin/echo_server" --listen "tls://127.0.0.1:0"
grep -q "needs a certificate" "$log/out"
expect_exit 1 "$bin/echo_server" --listen "tls://127.0.0.1:0" --cert "$pki/missing.pem" \
  --key "$pki/server.key"
grep -q "missing.pem" "$log/out"
expect_exit 1 "$bin/echo_client" --connect "tls://localhost:1" --ca "$pki/missing.pem"
grep -q "missing.pem" "$log/out"
echo "echo example: all checks passed"
