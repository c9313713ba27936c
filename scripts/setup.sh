#!/usr/bin/env bash
# Installs every dependency coronet needs from Debian's packages (and from
# npm: Node's ws for the interop tests, puppeteer-core for the browser tests,
# Socket.IO for the fan-out bench, each into its own folder), then configures
# and builds with CMake into build/.  Safe to run again.
#
#   scripts/setup.sh            install + build
#   scripts/setup.sh --deps     install only
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential g++ cmake ninja-build meson pkg-config clang-format
  libasio-dev libwslay-dev libmbedtls-dev libhttp-parser-dev zlib1g-dev
  catch2 libcli11-dev
  python3 python3-websockets python3-jwt openssl
  libboost-dev
  redis-server redis-tools libhiredis-dev nlohmann-json3-dev
  chromium fonts-dejavu-core
  python3-matplotlib
)
# Node and npm for the interop tests' Node peer (tests/interop/node), unless a node is on PATH.
if ! command -v node >/dev/null 2>&1; then packages+=(nodejs npm); fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi

# The Node WebSocket peer of tests/interop (ws, pinned by its package-lock.json).
if [ ! -d tests/interop/node/node_modules/ws ]; then
  echo "setup: installing Node's ws into tests/interop/node"
  (cd tests/interop/node && npm ci --no-audit --no-fund)
fi

# puppeteer-core for the browser tests of tests/browser (it drives Debian's
# chromium; pinned to the 24.x line, which runs on Node 20).
if [ ! -d tests/browser/node_modules/puppeteer-core ]; then
  echo "setup: installing puppeteer-core into tests/browser"
  (cd tests/browser && npm ci --no-audit --no-fund)
fi

# Socket.IO 4 and its Redis adapter, the server fanout_bench measures
# coronet's groups against (examples/bench/socketio/server.js).
if [ ! -d examples/bench/socketio/node_modules/socket.io ]; then
  echo "setup: installing socket.io into examples/bench/socketio"
  (cd examples/bench/socketio && npm ci --no-audit --no-fund)
fi

# uPlot, the chart library dashboard_server serves to its page.
if [ ! -f examples/dashboard/node_modules/uplot/dist/uPlot.iife.min.js ]; then
  echo "setup: installing uplot into examples/dashboard"
  (cd examples/dashboard && npm ci --no-audit --no-fund)
fi

if [ "${1:-}" = "--deps" ]; then exit 0; fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build
