// Private: cryptographically strong random bytes (mbedTLS CTR-DRBG seeded
// from the system's entropy, one generator per thread) for masking keys and
// Sec-WebSocket-Key.
#pragma once

#include <cstddef>
#include <span>

namespace coronet::detail {

/// Fills `out`; false only if the generator could not be seeded.
bool random_bytes(std::span<std::byte> out) noexcept;

} // namespace coronet::detail
