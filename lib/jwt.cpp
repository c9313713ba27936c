#include <coronet/jwt.hpp>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>

namespace coronet {
namespace {

using json = nlohmann::json;
constexpr std::size_t max_token_bytes = 8 * 1024;

class jwt_category_impl final : public std::error_category {
public:
  const char* name() const noexcept override { return "coronet.jwt"; }
  std::string message(int v) const override {
    switch (static_cast<jwt_errc>(v)) {
    case jwt_errc::missing: return "no token in the request";
    case jwt_errc::malformed: return "the token is malformed";
    case jwt_errc::unsupported_algorithm: return "the token is not signed with HS256";
    case jwt_errc::bad_signature: return "the token's signature does not match";
    case jwt_errc::expired: return "the token has expired";
    case jwt_errc::not_yet_valid: return "the token is not valid yet";
    }
    return "unknown JWT error";
  }
};

bool is_base64url(std::string_view s) {
  for (unsigned char c : s)
    if (!std::isalnum(c) && c != '-' && c != '_') return false;
  return true;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  if (!is_base64url(in) || in.size() % 4 == 1) return std::nullopt;
  std::string b64(in);
  for (auto& c : b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
  b64.append((4 - b64.size() % 4) % 4, '=');
  std::string out(b64.size() / 4 * 3, '\0');
  std::size_t n = 0;
  if (mbedtls_base64_decode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &n,
                            reinterpret_cast<const unsigned char*>(b64.data()), b64.size()) != 0)
    return std::nullopt;
  out.resize(n);
  return out;
}

std::string base64url_encode(std::string_view in) {
  std::string out((in.size() + 2) / 3 * 4 + 1, '\0');
  std::size_t n = 0;
  mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &n,
                        reinterpret_cast<const unsigned char*>(in.data()), in.size());
  out.resize(n);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (auto& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::array<unsigned char, 32> hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, 32> mac{};
  mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                  reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                  reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data());
  return mac;
}

// Compares all of both, whatever differs first, so the time taken says
// nothing about how much of a forged signature was right.
bool equal_constant_time(std::string_view a, std::span<const unsigned char> b) {
  if (a.size() != b.size()) return false;
  volatile unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff = diff | (static_cast<unsigned char>(a[i]) ^ b[i]);
  return diff == 0;
}

// A NumericDate claim: absent, or a number (fractions allowed by RFC 7519).
result<std::optional<std::int64_t>> numeric_date(const json& payload, const char* key) {
  auto it = payload.find(key);
  if (it == payload.end()) return std::optional<std::int64_t>();
  if (!it->is_number()) return fail(jwt_errc::malformed);
  double v = it->get<double>();
  if (!std::isfinite(v) || std::abs(v) > 1e15) return fail(jwt_errc::malformed);
  return std::optional<std::int64_t>(static_cast<std::int64_t>(std::floor(v)));
}

} // namespace

const std::error_category& jwt_category() noexcept {
  static const jwt_category_impl category;
  return category;
}

jwt_verifier::jwt_verifier(std::string secret, std::chrono::seconds leeway)
    : secret_(std::move(secret)), leeway_(leeway) {}

result<jwt_claims> jwt_verifier::verify(std::string_view token,
                                        std::chrono::system_clock::time_point now) const {
  if (token.empty()) return fail(jwt_errc::missing);
  if (token.size() > max_token_bytes) return fail(jwt_errc::malformed);
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return fail(jwt_errc::malformed);
  auto header_part = token.substr(0, dot1);
  auto payload_part = token.substr(dot1 + 1, dot2 - dot1 - 1);
  auto header_text = base64url_decode(header_part);
  auto payload_text = base64url_decode(payload_part);
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!header_text || !payload_text || !signature) return fail(jwt_errc::malformed);

  auto header = json::parse(*header_text, nullptr, false);
  if (!header.is_object()) return fail(jwt_errc::malformed);
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) return fail(jwt_errc::malformed);
  if (alg->get_ref<const std::string&>() != "HS256") return fail(jwt_errc::unsupported_algorithm);
  // Extensions the token says must be understood (RFC 7515 section 4.1.11):
  // none are, so such a token is refused.
  if (header.contains("crit")) return fail(jwt_errc::unsupported_algorithm);
  // No secret, no proof: an empty key would let anyone sign.
  if (secret_.empty()) return fail(jwt_errc::bad_signature);

  // The signature before anything in the payload is believed.
  auto mac = hmac_sha256(secret_, token.substr(0, dot2));
  if (!equal_constant_time(*signature, mac)) return fail(jwt_errc::bad_signature);
  // One spelling per signature: the unused low bits of the last base64url
  // character must be zero (else one token would have several forms).
  if (base64url_encode(*signature) != token.substr(dot2 + 1)) return fail(jwt_errc::bad_signature);

  auto payload = json::parse(*payload_text, nullptr, false);
  if (!payload.is_object()) return fail(jwt_errc::malformed);
  jwt_claims claims;
  if (auto sub = payload.find("sub"); sub != payload.end()) {
    if (!sub->is_string()) return fail(jwt_errc::malformed);
    claims.subject = sub->get<std::string>();
  }
  auto exp = numeric_date(payload, "exp");
  auto nbf = numeric_date(payload, "nbf");
  auto iat = numeric_date(payload, "iat");
  if (!exp || !nbf || !iat) return fail(jwt_errc::malformed);
  claims.expires = *exp;
  claims.not_before = *nbf;
  claims.issued_at = *iat;
  auto t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (claims.expires && t > *claims.expires + leeway_.count()) return fail(jwt_errc::expired);
  if (claims.not_before && t + leeway_.count() < *claims.not_before)
    return fail(jwt_errc::not_yet_valid);
  claims.json = std::move(*payload_text);
  return claims;
}

std::optional<std::string> jwt_from_request(const http_request& r, std::string_view name) {
  if (auto bearer = r.bearer_token()) return std::string(*bearer);
  if (auto cookie = r.cookie(name)) return std::string(*cookie);
  return r.query_value(name);
}

std::function<authorization(const http_request&)> jwt_authorize(jwt_verifier verifier,
                                                                std::string name) {
  return [verifier = std::move(verifier), name = std::move(name)](const http_request& r) {
    auto token = jwt_from_request(r, name);
    auto claims = verifier.verify(token ? std::string_view(*token) : std::string_view());
    if (claims) return authorization::allow(std::move(*claims));
    auto refusal = http_response::error(401);
    // RFC 6750 section 3: the scheme, and why.
    refusal.headers.push_back({"WWW-Authenticate", claims.error() == jwt_errc::missing
                                                       ? "Bearer"
                                                       : "Bearer error=\"invalid_token\""});
    refusal.body = claims.error().message();
    return authorization::refuse(std::move(refusal));
  };
}

std::string jwt_sign(std::string_view claims_json, std::string_view secret) {
  auto signing_input =
      base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(claims_json);
  auto mac = hmac_sha256(secret, signing_input);
  return signing_input + "." +
         base64url_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

} // namespace coronet
