// For transport authors: what the transports of byte streams (tcp://,
// tls://, unix://) share: the ?framing= option, their properties, and a
// channel of framed<Stream, Codec> for the framing the options name.
//
//   coronet::register_transport({
//       .scheme = "unix",
//       .syntax = coronet::url_syntax::local,
//       .option = coronet::framing_option,
//       .connect = ...,   // co_return coronet::make_framed_channel(std::move(stream), config);
//       .listen = ...,
//       .properties = [](const coronet::options& o) { return coronet::stream_properties(o); },
//   });
#pragma once

#include <coronet/channel.hpp>
#include <coronet/codec.hpp>
#include <coronet/framed.hpp>
#include <coronet/options.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace coronet {

/// A transport's `option` for schemes that take ?framing=length|line|raw
/// (and nothing else of their own).
result<void> framing_option(std::string_view key, std::string_view value, options& o,
                            std::string& why);

/// Reliable and ordered; boundaries kept unless the framing is raw (whose
/// messages are one read each, at most read_buffer_size).
properties stream_properties(const options& o, bool encrypted = false);

/// A channel of `s` framed by the codec config->options.framing names.
template <stream S>
channel make_framed_channel(S s, std::shared_ptr<const endpoint_config> c) {
  switch (c->options.framing) {
  case framing::line: return channel(framed<S, line_codec>(std::move(s), std::move(c)));
  case framing::raw: return channel(framed<S, raw_codec>(std::move(s), std::move(c)));
  case framing::length_prefixed: break;
  }
  return channel(framed<S, length_prefixed_codec>(std::move(s), std::move(c)));
}

} // namespace coronet
