// The HS256 JWT verifier: what it accepts, what it refuses and why, and
// agreement with a real peer (PyJWT, Debian's python3-jwt) both ways.
#include <coronet/jwt.hpp>

#include "../support/child_process.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

using coronet::jwt_errc;
using namespace std::chrono_literals;

namespace {

const std::string secret = "correct horse battery staple";
constexpr std::int64_t t0 = 1'800'000'000; // "now" in these tests

std::chrono::system_clock::time_point at(std::int64_t seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}

std::string token(nlohmann::json claims, const std::string& key = secret) {
  return coronet::jwt_sign(claims.dump(), key);
}

// Rewrites one base64url part of a token.
std::string with_part(const std::string& t, int part, const std::string& replacement) {
  auto dot1 = t.find('.'), dot2 = t.find('.', dot1 + 1);
  std::string parts[3] = {t.substr(0, dot1), t.substr(dot1 + 1, dot2 - dot1 - 1),
                          t.substr(dot2 + 1)};
  parts[part] = replacement;
  return parts[0] + "." + parts[1] + "." + parts[2];
}

} // namespace

TEST_CASE("jwt: a valid token's claims", "[unit][jwt]") {
  coronet::jwt_verifier verify(secret);
  auto t = token({{"sub", "alice"}, {"exp", t0 + 60}, {"nbf", t0 - 60}, {"iat", t0}, {"room", 7}});
  auto claims = verify.verify(t, at(t0));
  REQUIRE(claims);
  CHECK(claims->subject == "alice");
  CHECK(claims->expires == t0 + 60);
  CHECK(claims->not_before == t0 - 60);
  CHECK(claims->issued_at == t0);
  CHECK(nlohmann::json::parse(claims->json)["room"] == 7);

  auto bare = verify.verify(token(nlohmann::json::object()), at(t0));
  REQUIRE(bare);
  CHECK(bare->subject.empty());
  CHECK_FALSE(bare->expires);
}

TEST_CASE("jwt: exp and nbf with the leeway", "[unit][jwt]") {
  coronet::jwt_verifier verify(secret, 30s);
  auto t = token({{"sub", "a"}, {"exp", t0}, {"nbf", t0 - 100}});
  CHECK(verify.verify(t, at(t0 + 30)));
  CHECK(verify.verify(t, at(t0 + 31)).error() == jwt_errc::expired);
  CHECK(verify.verify(t, at(t0 - 130)));
  CHECK(verify.verify(t, at(t0 - 131)).error() == jwt_errc::not_yet_valid);
  coronet::jwt_verifier strict(secret, 0s);
  CHECK(strict.verify(t, at(t0 + 1)).error() == jwt_errc::expired);
  // Fractional NumericDates are allowed (RFC 7519 section 2).
  CHECK(strict.verify(token({{"exp", t0 + 0.5}}), at(t0)));
}

TEST_CASE("jwt: forged, altered and malformed tokens are refused", "[unit][jwt]") {
  coronet::jwt_verifier verify(secret);
  auto good = token({{"sub", "alice"}, {"exp", t0 + 60}});
  REQUIRE(verify.verify(good, at(t0)));

  SECTION("another secret") {
    CHECK(verify.verify(token({{"sub", "alice"}}, "guess"), at(t0)).error() ==
          jwt_errc::bad_signature);
  }
  SECTION("the payload changed after signing") {
    auto mallory = token({{"sub", "mallory"}, {"exp", t0 + 60}});
    auto mallory_payload = mallory.substr(mallory.find('.') + 1);
    mallory_payload = mallory_payload.substr(0, mallory_payload.find('.'));
    CHECK(verify.verify(with_part(good, 1, mallory_payload), at(t0)).error() ==
          jwt_errc::bad_signature);
  }
  SECTION("a signature one bit off, or cut short") {
    auto sig = good.substr(good.rfind('.') + 1);
    auto flipped = sig;
    flipped[3] = flipped[3] == 'A' ? 'B' : 'A';
    CHECK(verify.verify(with_part(good, 2, flipped), at(t0)).error() == jwt_errc::bad_signature);
    CHECK(verify.verify(with_part(good, 2, sig.substr(0, 20)), at(t0)).error() ==
          jwt_errc::bad_signature);
    CHECK(verify.verify(with_part(good, 2, ""), at(t0)).error() == jwt_errc::bad_signature);
  }
  SECTION("alg none and other algorithms") {
    // {"alg":"none"} and {"alg":"HS512","typ":"JWT"}, base64url
    CHECK(verify.verify(with_part(good, 0, "eyJhbGciOiJub25lIn0"), at(t0)).error() ==
          jwt_errc::unsupported_algorithm);
    CHECK(
        verify.verify(with_part(good, 0, "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9"), at(t0)).error() ==
        jwt_errc::unsupported_algorithm);
  }
  SECTION("not a JWT") {
    for (std::string bad : {"abc", "a.b", "a.b.c.d", "..", "!!!.e30.sig", "e30.e30", "e30.W10.",
                            "e30.e30.e30" /* header without alg */})
      CHECK(verify.verify(bad, at(t0)).error() == jwt_errc::malformed);
    CHECK(verify.verify("", at(t0)).error() == jwt_errc::missing);
    CHECK(verify.verify(std::string(9000, 'a'), at(t0)).error() == jwt_errc::malformed);
  }
  SECTION("claims of the wrong type") {
    CHECK(verify.verify(token({{"sub", 42}}), at(t0)).error() == jwt_errc::malformed);
    CHECK(verify.verify(token({{"exp", "tomorrow"}}), at(t0)).error() == jwt_errc::malformed);
    CHECK(verify.verify(coronet::jwt_sign("[1,2]", secret), at(t0)).error() == jwt_errc::malformed);
    CHECK(verify.verify(coronet::jwt_sign("{not json", secret), at(t0)).error() ==
          jwt_errc::malformed);
  }
  SECTION("crit, an empty secret, a second spelling of the signature") {
    // {"alg":"HS256","crit":["exp"]}
    CHECK(verify.verify(with_part(good, 0, "eyJhbGciOiJIUzI1NiIsImNyaXQiOlsiZXhwIl19"), at(t0))
              .error() == jwt_errc::unsupported_algorithm);
    CHECK(coronet::jwt_verifier("").verify(token({{"sub", "a"}}, ""), at(t0)).error() ==
          jwt_errc::bad_signature);
    // 32 bytes are 43 base64url characters, the last carrying 2 unused bits:
    // setting one gives the same bytes under another spelling.
    auto sig = good.substr(good.rfind('.') + 1);
    REQUIRE(sig.size() == 43);
    auto other = sig;
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    other.back() = alphabet[alphabet.find(sig.back()) | 1];
    if (other != sig)
      CHECK(verify.verify(with_part(good, 2, other), at(t0)).error() == jwt_errc::bad_signature);
  }
  SECTION("every error says what it is") {
    CHECK(std::error_code(jwt_errc::expired).message() == "the token has expired");
    CHECK(std::string(coronet::jwt_category().name()) == "coronet.jwt");
  }
}

TEST_CASE("jwt: the token of a request", "[unit][jwt]") {
  coronet::http_request r;
  CHECK_FALSE(coronet::jwt_from_request(r));
  r.query = "room=1&token=from%2Dquery";
  CHECK(coronet::jwt_from_request(r) == "from-query");
  r.headers.push_back({"Cookie", "theme=dark; token=from-cookie"});
  CHECK(coronet::jwt_from_request(r) == "from-cookie");
  r.headers.push_back({"authorization", "Bearer from-header"});
  CHECK(coronet::jwt_from_request(r) == "from-header");
  CHECK(coronet::jwt_from_request(r, "other") == "from-header");
}

TEST_CASE("jwt: PyJWT accepts our tokens and we accept its", "[interop][jwt]") {
  using coronet::test::child_process;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto ours = token({{"sub", "alice"}, {"exp", now + 600}});
  child_process py({"/usr/bin/python3", "-c",
                    "import sys, time, jwt\n"
                    "secret = sys.argv[1]\n"
                    "print(jwt.decode(sys.argv[2], secret, algorithms=['HS256'])['sub'])\n"
                    "print(jwt.encode({'sub': 'bob', 'exp': int(time.time()) + 600}, secret,"
                    " algorithm='HS256'))\n"
                    "sys.stdout.flush()\n",
                    secret, ours},
                   {.merge_stderr = true});
  auto decoded = py.read_line(10s);
  REQUIRE(decoded);
  CHECK(*decoded == "alice");
  auto theirs = py.read_line(10s);
  REQUIRE(theirs);
  auto claims = coronet::jwt_verifier(secret).verify(*theirs);
  REQUIRE(claims);
  CHECK(claims->subject == "bob");
}
