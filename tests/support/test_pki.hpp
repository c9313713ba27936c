// Test certificates made at test time with mbedTLS's x509 write API: a CA
// and leaf certificates signed by it, ECDSA P-256, with the names and
// validity a test asks for.  No private key is ever committed.
#pragma once

#include <coronet/options.hpp>

#include <string>
#include <vector>

namespace coronet::test {

struct key_and_cert {
  std::string key_pem, cert_pem;
};

struct leaf_spec {
  std::string common_name = "localhost";
  std::vector<std::string> dns_names = {"localhost"};
  std::string not_before = "20240101000000"; ///< YYYYMMDDhhmmss, UTC
  std::string not_after = "20991231235959";
  bool client = false; ///< extended key usage: client auth instead of server auth
};

class test_ca {
public:
  explicit test_ca(std::string name = "coronet test CA");
  /// A certificate for `spec`, signed by this CA.
  key_and_cert issue(const leaf_spec& spec) const;
  const std::string& cert_pem() const { return ca_.cert_pem; }

private:
  std::string name_;
  key_and_cert ca_;
};

/// The identity a tls_options takes, from PEM text.
coronet::tls_identity identity_of(const key_and_cert& kc);

/// Writes `text` to a file under a fresh temporary directory; returns its path.
std::string write_temp_file(const std::string& name, const std::string& text);

} // namespace coronet::test
