// Private: the compiled TLS engine (mbedTLS) that tls_stream<Stream> drives.
// It does no I/O: ciphertext read from the stream goes in through
// input_space()/commit_input(), ciphertext to write comes out of output().
// Keeping mbedTLS behind this class keeps <mbedtls/...> out of the public
// headers and the TLS state machine out of every template instantiation.
#pragma once

#include <coronet/options.hpp>
#include <coronet/result.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace coronet::detail {

/// Certificates, keys, CAs and the random generator, loaded once per
/// listener or connect() and shared by its connections (one thread).
class tls_config;

enum class tls_role : unsigned char { server, client };

/// Loads what `o` names.  Fails with tls_errc::configuration when a file or
/// PEM text cannot be used; the sentence that says why goes to `why` when
/// given, else to the log (<coronet/log.hpp>).
result<std::shared_ptr<const tls_config>> make_tls_config(tls_role role, const tls_options& o,
                                                          std::vector<std::string> extra_alpn = {},
                                                          std::string* why = nullptr);

class tls_engine {
public:
  /// `server_name`: client only, for SNI and certificate verification.
  tls_engine(std::shared_ptr<const tls_config> config, std::string_view server_name);
  ~tls_engine();
  tls_engine(const tls_engine&) = delete;
  tls_engine& operator=(const tls_engine&) = delete;

  /// Free room at the end of the ciphertext input buffer.
  std::span<std::byte> input_space();
  /// `n` bytes were read into input_space().
  void commit_input(std::size_t n);
  /// True once the peer has sent anything at all.
  bool peer_spoke() const;

  /// Ciphertext waiting to be written; the caller erases what it wrote.
  std::vector<std::byte>& output() { return out_; }

  /// One step of the handshake: true once it is complete; false when it
  /// needs more input (write output() first).  Fails with a tls_category()
  /// error.
  result<bool> handshake();

  /// Decrypts into `buf`: bytes, or 0 when more input is needed.  Fails
  /// with errc::closed once the peer sent close_notify.
  result<std::size_t> read(std::span<std::byte> buf);
  /// True if decrypted bytes or a whole record are already buffered.
  bool has_buffered_input() const;

  /// Encrypts up to `buf.size()` bytes into output(); returns how many.
  result<std::size_t> write(std::span<const std::byte> buf);

  /// Appends a close_notify alert to output().
  void close_notify();

  /// The protocol ALPN chose ("" for none).
  std::string_view alpn() const;
  /// Once the handshake is done: the peer's certificate (DER; empty when it
  /// sent none) and its subject ("CN=example.com, O=...").
  std::vector<std::byte> peer_certificate() const;
  std::string peer_subject() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::vector<std::byte> out_;
};

} // namespace coronet::detail
