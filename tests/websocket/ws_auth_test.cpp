// Auth at the WebSocket handshake: jwt_authorize lets a valid token in and
// hands its claims to the handler; anything else gets 401 before the
// upgrade (no Sec-WebSocket-Accept), and the server goes on serving.
#include <coronet/coronet.hpp>
#include <coronet/jwt.hpp>
#include <coronet/websocket.hpp>

#include "../support/raw_http.hpp"
#include "../support/run.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

using coronet::test::raw_exchange;
using coronet::test::run;
using coronet::test::upgrade_request;
using namespace std::chrono_literals;

namespace {

const std::string secret = "s3cret-for-tests";

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string token_for(std::string sub, std::int64_t exp_in = 600, const std::string& key = secret) {
  return coronet::jwt_sign(nlohmann::json{{"sub", sub}, {"exp", now_s() + exp_in}}.dump(), key);
}

// Answers each connection with "hello <sub>" from the verified claims.
asio::awaitable<void> greet(coronet::channel ch) {
  auto claims = ch.info<coronet::jwt_claims>();
  std::string hello = claims ? "hello " + claims->subject : "no claims";
  co_await ch.send(coronet::message_view(hello));
}

struct auth_fixture {
  coronet::server server;
  auth_fixture() {
    coronet::server_options o;
    o.websocket.authorize = coronet::jwt_authorize(coronet::jwt_verifier(secret));
    REQUIRE(server.start("ws://127.0.0.1:0/chat", greet, o));
  }
  std::string url(std::string query = "") const {
    return "ws://127.0.0.1:" + std::to_string(server.port()) + "/chat" + query;
  }
};

asio::awaitable<std::string> first_message(std::string url, coronet::options o = {}) {
  auto ch = co_await coronet::connect(url, o);
  if (!ch) co_return "connect: " + ch.error().message();
  auto m = co_await ch->receive();
  if (!m) co_return "receive: " + m.error().message();
  co_return std::string(m->text());
}

} // namespace

TEST_CASE("ws auth: a valid token in the header, a cookie or the query",
          "[integration][ws][auth]") {
  auth_fixture f;
  asio::io_context io;
  coronet::options bearer;
  bearer.websocket.request_headers = {{"Authorization", "Bearer " + token_for("alice")}};
  CHECK(run(io, first_message(f.url(), bearer)) == "hello alice");
  coronet::options cookie;
  cookie.websocket.request_headers = {{"Cookie", "a=b; token=" + token_for("bob")}};
  CHECK(run(io, first_message(f.url(), cookie)) == "hello bob");
  CHECK(run(io, first_message(f.url("?token=" + token_for("carol")))) == "hello carol");
}

TEST_CASE("ws auth: missing, expired or forged tokens get 401 before the upgrade",
          "[integration][ws][auth]") {
  auth_fixture f;
  struct refusal {
    std::string what, extra_header, body;
  };
  for (auto& r : {
           refusal{"missing", "", "no token in the request"},
           refusal{"expired", "Authorization: Bearer " + token_for("alice", -3600) + "\r\n",
                   "the token has expired"},
           refusal{"wrong signature",
                   "Authorization: Bearer " + token_for("alice", 600, "guess") + "\r\n",
                   "the token's signature does not match"},
           refusal{"garbage", "Cookie: token=not.a.jwt\r\n", "the token is malformed"},
       }) {
    INFO(r.what);
    auto answer = raw_exchange(f.server.port(), upgrade_request("/chat", r.extra_header));
    CHECK(answer.rfind("HTTP/1.1 401 Unauthorized\r\n", 0) == 0);
    CHECK(answer.find("Sec-WebSocket-Accept") == std::string::npos);
    CHECK(answer.find("WWW-Authenticate: Bearer") != std::string::npos);
    CHECK(answer.ends_with("\r\n\r\n" + r.body));
  }
  // The client side sees the status; the server still serves good clients.
  asio::io_context io;
  CHECK(run(io, first_message(f.url("?token=" + token_for("x", -3600)))) ==
        "connect: " + std::error_code(401, coronet::http_status_category()).message());
  CHECK(run(io, first_message(f.url("?token=" + token_for("dave")))) == "hello dave");
}
