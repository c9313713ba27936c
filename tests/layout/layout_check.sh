#!/usr/bin/env bash
# The layout rules a grep can check (docs/architecture.md):
#  - a transport reaches the core through include/ only: no "../" include in
#    transports/, and no include of another transport's folder;
#  - the core (lib/) names no transport: no scheme literal, no include of
#    transports/;
#  - public headers never include wslay, mbedTLS, http-parser, hiredis or
#    nlohmann-json (the library's private dependencies);
#  - every folder under transports/ is one line in CMakeLists.txt and one in
#    meson.build, and has both build files of its own.
# Usage: layout_check.sh SOURCE_DIR
set -uo pipefail
cd "${1:?usage: layout_check.sh SOURCE_DIR}"
bad=0
say() { echo "layout: $*"; bad=1; }

while IFS= read -r hit; do say "a transport reaches outside its folder: $hit"; done \
  < <(grep -rnE '#include[[:space:]]+"[^"]*\.\./' transports/ || true)
while IFS= read -r hit; do say "the core includes a transport's private file: $hit"; done \
  < <(grep -rnE '#include[[:space:]]+"[^"]*transports/' lib/ include/ || true)
while IFS= read -r hit; do say "the core names a scheme: $hit"; done \
  < <(grep -rnE '"(tcp|udp|tls|ws|wss|unix)"' lib/ || true)
while IFS= read -r hit; do say "a public header includes a private dependency: $hit"; done \
  < <(grep -rnE '#include[[:space:]]+<(wslay/|mbedtls/|http_parser|hiredis/|nlohmann/)' include/ || true)

for dir in transports/*/; do
  name=$(basename "$dir")
  [ -f "$dir/CMakeLists.txt" ] || say "transports/$name has no CMakeLists.txt"
  [ -f "$dir/meson.build" ] || say "transports/$name has no meson.build"
  n=$(grep -c "^coronet_transport($name)\$" CMakeLists.txt)
  [ "$n" = 1 ] || say "CMakeLists.txt names transports/$name $n times (want one line: coronet_transport($name))"
  n=$(grep -c "^subdir('transports/$name')\$" meson.build)
  [ "$n" = 1 ] || say "meson.build names transports/$name $n times (want one line: subdir('transports/$name'))"
done

[ "$bad" = 0 ] && echo "layout: every rule holds ($(ls -d transports/*/ | wc -l) transports)"
exit "$bad"
