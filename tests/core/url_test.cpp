#include <coronet/error.hpp>
#include <coronet/http.hpp>
#include <coronet/transport/registry.hpp>
#include <coronet/url.hpp>

#include <catch2/catch.hpp>

using coronet::parse_url;

TEST_CASE("URLs that parse", "[unit][url]") {
  SECTION("IPv4 with port") {
    auto u = parse_url("tcp://127.0.0.1:7000");
    REQUIRE(u);
    CHECK(u->scheme == "tcp");
    CHECK(u->host == "127.0.0.1");
    CHECK(u->port == 7000);
    CHECK(u->path.empty());
    CHECK(u->to_string() == "tcp://127.0.0.1:7000");
    CHECK(u->authority() == "127.0.0.1:7000");
  }
  SECTION("bracketed IPv6") {
    auto u = parse_url("udp://[::1]:9");
    REQUIRE(u);
    CHECK(u->scheme == "udp");
    CHECK(u->host == "::1");
    CHECK(u->authority() == "[::1]:9");
    CHECK(u->to_string() == "udp://[::1]:9");
  }
  SECTION("host names, scheme case") {
    auto u = parse_url("TLS://my-host.example_1.org:443");
    REQUIRE(u);
    CHECK(u->scheme == "tls");
    CHECK(u->host == "my-host.example_1.org");
  }
  SECTION("WebSocket paths and default ports") {
    auto ws = parse_url("ws://localhost/chat/room?token=a%20b+c");
    REQUIRE(ws);
    CHECK(ws->port == 80);
    CHECK(ws->path == "/chat/room");
    CHECK(ws->query_value("token") == "a b c");
    auto wss = parse_url("wss://h");
    REQUIRE(wss);
    CHECK(wss->port == 443);
    CHECK(wss->path == "/");
  }
  SECTION("common options") {
    auto u = parse_url("tcp://h:1?framing=raw&timeout_ms=250&max_message=1024");
    REQUIRE(u);
    CHECK(coronet::apply_url_options(*u, {})->framing == coronet::framing::raw);
    CHECK(u->timeout == std::chrono::milliseconds(250));
    CHECK(u->max_message == 1024u);
    CHECK(u->query_value("max_message") == "1024");
    CHECK(parse_url("ws://h/p?x=y")->query_value("x") == "y"); // ws:// keeps the app's keys
    auto framing_of = [](const char* text) {
      return coronet::apply_url_options(*parse_url(text), {})->framing;
    };
    CHECK(framing_of("tcp://h:1?framing=line") == coronet::framing::line);
    CHECK(framing_of("tcp://h:1?framing=length") == coronet::framing::length_prefixed);
    CHECK(parse_url("tcp://h:1/")); // a bare slash is harmless
  }
  SECTION("port bounds") {
    CHECK(parse_url("tcp://h:0")->port == 0);
    CHECK(parse_url("tcp://h:65535")->port == 65535);
  }
}

TEST_CASE("URLs that do not parse say why", "[unit][url]") {
  struct bad_case {
    const char* url;
    const char* mentions;
  };
  const bad_case cases[] = {
      {"127.0.0.1:80", "://"},
      {"tcp://h", "needs a port"},
      {"tcp://h:", "empty port"},
      {"tcp://h:65536", "0 to 65535"},
      {"tcp://h:8x", "0 to 65535"},
      {"tcp://:80", "missing host"},
      {"tcp://::1:80", "brackets"},
      {"tcp://[::1:80", "closing ']'"},
      {"tcp://[zz::1]:80", "IPv6"},
      {"tcp://[::1]80", "after the IPv6"},
      {"tcp://h o:80", "host name"},
      {"tcp://h:1?framing=zip", "framing=zip"},
      {"udp://h:1?framing=raw", "unknown option \"framing\" for udp://"},
      {"tcp://h:1?timeout_ms=0", "timeout_ms"},
      {"tcp://h:1?timeout_ms=-5", "timeout_ms"},
      {"tcp://h:1?max_message=big", "max_message"},
      {"tcp://h:1/path", "path"},
      {"ws://h/p#frag", "fragment"},
      {"ws://user@h/p", "user"},
      {"tcp://h:1?a=%zz", "percent"},
      {"tcp://h:1?timout_ms=5", "unknown option \"timout_ms\""},
  };
  for (auto& c : cases) {
    INFO(c.url);
    std::string why;
    auto u = parse_url(c.url, &why);
    REQUIRE_FALSE(u);
    CHECK(u.error() == coronet::errc::invalid_url);
    CHECK_THAT(why, Catch::Contains(c.mentions));
  }
}

TEST_CASE("an unknown scheme names the registered ones", "[unit][url]") {
  std::string why;
  auto u = parse_url("http://h:80", &why);
  REQUIRE_FALSE(u);
  CHECK(u.error() == coronet::errc::unknown_scheme);
  CHECK_THAT(why, Catch::Contains("unknown scheme \"http\""));
  for (auto& scheme : coronet::registered_schemes()) CHECK_THAT(why, Catch::Contains(scheme));
  CHECK_THAT(why, Catch::Contains("tcp, tls, udp"));
}

TEST_CASE("a local address survives to_string() and back", "[unit][url]") {
  auto u = parse_url("unix:///tmp/a%3Fb%23c%25d.sock?framing=line");
  REQUIRE(u);
  CHECK(u->path == "/tmp/a?b#c%d.sock");
  CHECK(u->to_string() == "unix:///tmp/a%3Fb%23c%25d.sock?framing=line");
  auto again = parse_url(u->to_string());
  REQUIRE(again);
  CHECK(again->path == u->path);
  CHECK(parse_url("unix://@name")->to_string() == "unix://@name");
}

TEST_CASE("percent_decode: strict for URLs, keeping bad escapes for what peers send",
          "[unit][url]") {
  CHECK(coronet::percent_decode("a%20b+c") == "a b+c");
  CHECK(coronet::percent_decode("a%20b+c", true) == "a b c");
  CHECK_FALSE(coronet::percent_decode("a%zzb%41"));
  CHECK_FALSE(coronet::percent_decode("50%"));
  CHECK(coronet::percent_decode("a%zzb%41", false, coronet::bad_escape::keep) == "a%zzbA");
  CHECK(coronet::percent_decode("50%", false, coronet::bad_escape::keep) == "50%");
  CHECK(coronet::percent_encode("a b/é") == "a%20b%2F%C3%A9");
  coronet::http_request r;
  r.query = "name=a%zz+b%21&x";
  CHECK(r.query_value("name") == "a%zz b!");
  CHECK(r.query_value("x") == "");
}
