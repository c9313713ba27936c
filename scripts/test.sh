#!/usr/bin/env bash
# Runs the whole test suite, as CI does (.ci/run calls this script):
#   1. installs the dependencies (scripts/setup.sh --deps; a no-op when present)
#   2. CMake build (warnings are errors) + CTest
#   3. Meson build (warnings are errors) + meson test
#   4. CMake build with AddressSanitizer + UndefinedBehaviorSanitizer + CTest
# Build trees go to build-test/ so a developer's build/ is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${CORONET_TEST_DIR:-$root/build-test}
jobs=$(nproc)

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
scripts/setup.sh --deps

step "formatting (clang-format --dry-run)"
git ls-files '*.cpp' '*.hpp' '*.c' '*.h' | xargs clang-format --dry-run --Werror

step "CMake build"
cmake -S . -B "$out/cmake" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORONET_WERROR=ON
cmake --build "$out/cmake" -j "$jobs"

step "CTest"
(cd "$out/cmake" && ctest --output-on-failure -j "$jobs" --timeout 300)

step "Meson build"
if [ ! -d "$out/meson" ]; then
  meson setup "$out/meson" -Dwerror=true -Dbuildtype=debugoptimized
fi
ninja -C "$out/meson" -j "$jobs"

step "meson test"
meson test -C "$out/meson" --print-errorlogs --num-processes "$jobs"

step "Meson install: pkg-config consumer"
rm -rf "$out/meson-install"
DESTDIR="$out/meson-install" meson install -C "$out/meson" --quiet
prefix=$(meson introspect "$out/meson" --buildoptions | /usr/bin/python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
libdir=$(meson introspect "$out/meson" --buildoptions | /usr/bin/python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"))')
staged="$out/meson-install$prefix"
export PKG_CONFIG_PATH="$staged/$libdir/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$out/meson-install"
c++ -std=c++23 tests/install/consumer.cpp -o "$out/pkg-config-consumer" $(pkg-config --cflags --libs coronet) \
  -Wl,-rpath,"$staged/$libdir"
"$out/pkg-config-consumer"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

step "CMake build with -fsanitize=address,undefined"
cmake -S . -B "$out/sanitize" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCORONET_WERROR=ON -DCORONET_SANITIZE=ON
cmake --build "$out/sanitize" -j "$jobs"

step "CTest under sanitizers"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd "$out/sanitize" && ctest --output-on-failure -j "$jobs" --timeout 600) | tee "$out/ctest-sanitize.log"

count=$(grep -o 'tests failed out of [0-9]*' "$out/ctest-sanitize.log" | grep -o '[0-9]*$')
step "all tests passed (CMake, Meson, and again under sanitizers)"
echo "ctest: ${count:-0} passed, 0 failed"
