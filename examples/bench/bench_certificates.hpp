// bench_certificates: a throwaway CA and a certificate for localhost, so a
// bench can run tls:// and wss:// on loopback.
//
// Made with the openssl command (ECDSA P-256) into a new directory under
// /tmp, or taken from a directory that already holds them (the
// --compare-serve and --compare-client processes are handed the one their
// parent made).  The server presents server.pem; clients trust ca.pem and
// check the name "localhost", whatever address they connect to.
#pragma once

#include <coronet/options.hpp>

#include <optional>
#include <string>

struct bench_certificates {
  std::string dir, ca, cert, key;

  /// Makes a new set; nothing if openssl failed.
  static std::optional<bench_certificates> make();
  /// The set made earlier in `dir`.
  static bench_certificates in(const std::string& dir);

  /// `o` with the server's identity added.
  coronet::options server_options(coronet::options o = {}) const;
  /// `o` trusting the CA and checking the name localhost.
  coronet::options client_options(coronet::options o = {}) const;

  /// Deletes the directory.
  void remove() const;
};
