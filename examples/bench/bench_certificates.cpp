#include "bench_certificates.hpp"

#include <cstdlib>
#include <filesystem>

#include <stdlib.h>

std::optional<bench_certificates> bench_certificates::make() {
  char dir[] = "/tmp/coronet-bench-certs-XXXXXX";
  if (!::mkdtemp(dir)) return std::nullopt;
  auto c = in(dir);
  std::string script =
      "cd " + c.dir +
      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
      "-keyout ca.key -out ca.pem -days 2 -subj /CN=coronet-bench-CA 2>/dev/null && "
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key "
      "-out server.csr -subj /CN=localhost 2>/dev/null && "
      "printf 'subjectAltName=DNS:localhost\\n' > ext && "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
      "-extfile ext -out server.pem 2>/dev/null";
  if (std::system(script.c_str()) != 0) {
    c.remove();
    return std::nullopt;
  }
  return c;
}

bench_certificates bench_certificates::in(const std::string& dir) {
  return {
      .dir = dir, .ca = dir + "/ca.pem", .cert = dir + "/server.pem", .key = dir + "/server.key"};
}

coronet::options bench_certificates::server_options(coronet::options o) const {
  coronet::tls_identity id;
  id.certificate_chain_file = cert;
  id.private_key_file = key;
  o.tls.identities = {id};
  return o;
}

coronet::options bench_certificates::client_options(coronet::options o) const {
  o.tls.ca_files = {ca};
  o.tls.server_name = {"localhost"};
  return o;
}

void bench_certificates::remove() const {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
