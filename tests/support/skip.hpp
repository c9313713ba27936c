// Tests that need something the machine may lack (IPv6, root, a TUN device)
// live in a program of their own whose main() checks first and, when it is
// missing, exits with skip_exit_code: CTest (SKIP_RETURN_CODE) and meson test
// both report the tests as skipped, not passed.
#pragma once

#include <string>
#include <string_view>

namespace coronet::test {

inline constexpr int skip_exit_code = 77;

/// Why the tests of this program cannot run here, or "" when they can.
/// Each such program defines it.
std::string skip_reason();

} // namespace coronet::test
