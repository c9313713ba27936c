#include <coronet/options.hpp>

namespace coronet {

options apply_url_options(const url& u, options o) {
  if (u.framing) o.framing = *u.framing;
  if (u.max_message) o.max_message = *u.max_message;
  if (u.timeout) {
    o.connect_timeout = *u.timeout;
    o.receive_timeout = *u.timeout;
  }
  return o;
}

} // namespace coronet
