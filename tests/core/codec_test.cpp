#include <coronet/codec.hpp>
#include <coronet/error.hpp>

#include "../support/run.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using coronet::test::bytes;
using coronet::test::text;

namespace {

// Feeds `wire` to the codec `step` bytes at a time, as a receive loop would,
// and returns the messages decoded (or the first error).
template <class Codec>
coronet::result<std::vector<std::string>>
decode_all(Codec& codec, const std::vector<std::byte>& wire, std::size_t step,
           std::size_t max_message = 1 << 20) {
  std::vector<std::string> out;
  std::vector<std::byte> buf;
  std::size_t fed = 0;
  while (fed < wire.size() || !buf.empty()) {
    auto d = codec.decode(buf, max_message);
    if (!d) return coronet::fail(d.error());
    if (d->consumed) {
      out.push_back(text(std::span(buf).subspan(d->offset, d->length)));
      buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(d->consumed));
      continue;
    }
    if (fed == wire.size()) break;
    auto n = std::min(step, wire.size() - fed);
    buf.insert(buf.end(), wire.begin() + static_cast<std::ptrdiff_t>(fed),
               wire.begin() + static_cast<std::ptrdiff_t>(fed + n));
    fed += n;
  }
  return out;
}

} // namespace

TEST_CASE("length-prefixed codec", "[unit][codec]") {
  coronet::length_prefixed_codec codec;
  std::vector<std::byte> wire;
  const std::vector<std::string> messages = {"hello", "", std::string(300, 'x'), "last"};
  for (auto& m : messages) codec.encode(coronet::message_view(m), wire);
  CHECK(wire.size() == 4 * 4 + 5 + 300 + 4);
  CHECK(wire[12] == std::byte{0}); // "" is 4 zero bytes at 9..12
  CHECK(wire[15] == std::byte{1}); // 300 = 0x012c, big-endian at 13..16
  CHECK(wire[16] == std::byte{0x2c});

  SECTION("split at every position") {
    for (std::size_t step = 1; step <= wire.size(); ++step) {
      INFO("step " << step);
      auto got = decode_all(codec, wire, step);
      REQUIRE(got);
      CHECK(*got == messages);
    }
  }
  SECTION("a declared length over the limit fails from the header alone") {
    std::vector<std::byte> header = {std::byte{0x7f}, std::byte{0xff}, std::byte{0xff},
                                     std::byte{0xff}};
    auto d = codec.decode(header, 1024);
    REQUIRE_FALSE(d);
    CHECK(d.error() == coronet::errc::message_too_large);
  }
  SECTION("a partial frame says how much it needs") {
    auto d = codec.decode(std::span(wire).first(6), 1 << 20);
    REQUIRE(d);
    CHECK(d->consumed == 0);
    CHECK(d->wanted == 9);
  }
  SECTION("exactly at the limit is accepted") {
    std::vector<std::byte> one;
    codec.encode(coronet::message_view(std::string(1024, 'a')), one);
    auto got = decode_all(codec, one, 100, 1024);
    REQUIRE(got);
    CHECK(got->size() == 1);
    auto over = decode_all(codec, one, 100, 1023);
    REQUIRE_FALSE(over);
    CHECK(over.error() == coronet::errc::message_too_large);
  }
}

TEST_CASE("line codec", "[unit][codec]") {
  coronet::line_codec codec;
  auto wire = bytes("one\r\ntwo\n\nthree\n");
  for (std::size_t step = 1; step <= wire.size(); ++step) {
    INFO("step " << step);
    auto got = decode_all(codec, wire, step);
    REQUIRE(got);
    CHECK(*got == std::vector<std::string>{"one", "two", "", "three"});
  }
  SECTION("a line longer than the limit fails before its end arrives") {
    coronet::line_codec c;
    auto got = decode_all(c, bytes(std::string(100, 'x')), 7, 64);
    REQUIRE_FALSE(got);
    CHECK(got.error() == coronet::errc::message_too_large);
  }
  SECTION("encoding") {
    std::vector<std::byte> out;
    codec.encode(coronet::message_view("hi"), out);
    CHECK(text(out) == "hi\n");
    CHECK(codec.check(coronet::message_view("a\nb")).error() == coronet::errc::invalid_argument);
    CHECK(codec.check(coronet::message_view("ab")));
  }
}

TEST_CASE("raw codec", "[unit][codec]") {
  coronet::raw_codec codec;
  auto wire = bytes("abcdef");
  auto d = codec.decode(wire, 1);
  REQUIRE(d);
  CHECK(d->consumed == 6);
  CHECK(d->length == 6);
  CHECK(codec.decode({}, 1)->consumed == 0);
  std::vector<std::byte> out;
  codec.encode(coronet::message_view("xyz"), out);
  CHECK(text(out) == "xyz");
}
