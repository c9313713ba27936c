#include "random.hpp"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

namespace coronet::detail {
namespace {

class generator {
public:
  generator() {
    mbedtls_entropy_init(&entropy_);
    mbedtls_ctr_drbg_init(&drbg_);
    static const unsigned char personalization[] = "coronet websocket";
    ok_ = mbedtls_ctr_drbg_seed(&drbg_, mbedtls_entropy_func, &entropy_, personalization,
                                sizeof personalization - 1) == 0;
  }
  ~generator() {
    mbedtls_ctr_drbg_free(&drbg_);
    mbedtls_entropy_free(&entropy_);
  }
  generator(const generator&) = delete;
  generator& operator=(const generator&) = delete;

  bool fill(std::span<std::byte> out) {
    // Masking keys are 4 bytes: draw them from a refilled pool, not one
    // DRBG call (an AES block computation and a lock check) per frame.
    for (auto& b : out) {
      if (used_ == sizeof pool_) {
        if (!ok_ || mbedtls_ctr_drbg_random(&drbg_, pool_, sizeof pool_) != 0) return false;
        used_ = 0;
      }
      b = static_cast<std::byte>(pool_[used_++]);
    }
    return true;
  }

private:
  mbedtls_entropy_context entropy_;
  mbedtls_ctr_drbg_context drbg_;
  unsigned char pool_[256];
  std::size_t used_ = sizeof pool_;
  bool ok_ = false;
};

} // namespace

bool random_bytes(std::span<std::byte> out) noexcept {
  thread_local generator g;
  return g.fill(out);
}

} // namespace coronet::detail
