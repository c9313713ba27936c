// main() for programs whose tests need something the machine may lack
// (support/skip.hpp): listing the tests always works (CTest discovers them
// at build time); running them where skip_reason() says why not exits with
// skip_exit_code after saying so.
#define CATCH_CONFIG_RUNNER
#include "skip.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <string_view>

int main(int argc, char** argv) {
  bool listing = false;
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]).starts_with("--list")) listing = true;
  if (!listing) {
    if (auto why = coronet::test::skip_reason(); !why.empty()) {
      std::printf("SKIPPED: %s\n", why.c_str());
      return coronet::test::skip_exit_code;
    }
  }
  return Catch::Session().run(argc, argv);
}
