#include <coronet/error.hpp>
#include <coronet/transport/stream_transport.hpp>

namespace coronet {

result<void> framing_option(std::string_view key, std::string_view value, options& o,
                            std::string& why) {
  if (key != "framing") return fail(errc::unsupported);
  if (value == "length" || value == "length_prefixed")
    o.framing = framing::length_prefixed;
  else if (value == "line")
    o.framing = framing::line;
  else if (value == "raw")
    o.framing = framing::raw;
  else {
    why = "framing=" + std::string(value) + " is unknown (expected length, line or raw)";
    return fail(errc::invalid_argument);
  }
  return {};
}

properties stream_properties(const options& o, bool encrypted) {
  bool raw = o.framing == framing::raw;
  return {.reliable = true,
          .ordered = true,
          .preserves_boundaries = !raw,
          .encrypted = encrypted,
          .max_message_size = raw ? o.read_buffer_size : o.max_message};
}

} // namespace coronet
