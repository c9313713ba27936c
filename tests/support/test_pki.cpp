#include "test_pki.hpp"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace coronet::test {
namespace {

struct rng {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  rng() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, nullptr, 0) != 0)
      throw std::runtime_error("test_pki: cannot seed the DRBG");
  }
  ~rng() {
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
};

rng& generator() {
  static rng r;
  return r;
}

void check(int rc, const char* what) {
  if (rc != 0)
    throw std::runtime_error(std::string("test_pki: ") + what + " failed: " + std::to_string(rc));
}

struct key {
  mbedtls_pk_context pk;
  key() {
    mbedtls_pk_init(&pk);
    check(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), "pk_setup");
    check(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), mbedtls_ctr_drbg_random,
                              &generator().drbg),
          "ecp_gen_key");
  }
  explicit key(const std::string& pem) {
    mbedtls_pk_init(&pk);
    check(mbedtls_pk_parse_key(&pk, reinterpret_cast<const unsigned char*>(pem.c_str()),
                               pem.size() + 1, nullptr, 0),
          "pk_parse_key");
  }
  ~key() { mbedtls_pk_free(&pk); }
  std::string pem() {
    unsigned char buf[4096] = {};
    check(mbedtls_pk_write_key_pem(&pk, buf, sizeof buf), "pk_write_key_pem");
    return reinterpret_cast<const char*>(buf);
  }
};

void der_length(std::string& out, std::size_t n) {
  if (n < 128) {
    out.push_back(static_cast<char>(n));
  } else if (n < 256) {
    out.push_back(static_cast<char>(0x81));
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(static_cast<char>(0x82));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xff));
  }
}

// SubjectAltName ::= SEQUENCE OF GeneralName; dNSName is [2] IA5String.
std::string san_der(const std::vector<std::string>& names) {
  std::string inner;
  for (auto& n : names) {
    inner.push_back(static_cast<char>(0x82));
    der_length(inner, n.size());
    inner += n;
  }
  std::string out(1, static_cast<char>(0x30));
  der_length(out, inner.size());
  return out + inner;
}

std::string make_cert(mbedtls_pk_context* subject, mbedtls_pk_context* issuer,
                      const std::string& subject_name, const std::string& issuer_name,
                      const std::string& not_before, const std::string& not_after, bool ca,
                      const std::vector<std::string>& dns_names, bool client) {
  static int serial_counter = 1;
  mbedtls_x509write_cert crt;
  mbedtls_x509write_crt_init(&crt);
  mbedtls_mpi serial;
  mbedtls_mpi_init(&serial);
  mbedtls_mpi_lset(&serial, ++serial_counter);
  mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&crt, subject);
  mbedtls_x509write_crt_set_issuer_key(&crt, issuer);
  check(mbedtls_x509write_crt_set_subject_name(&crt, subject_name.c_str()), "subject name");
  check(mbedtls_x509write_crt_set_issuer_name(&crt, issuer_name.c_str()), "issuer name");
  check(mbedtls_x509write_crt_set_serial(&crt, &serial), "serial");
  check(mbedtls_x509write_crt_set_validity(&crt, not_before.c_str(), not_after.c_str()),
        "validity");
  check(mbedtls_x509write_crt_set_basic_constraints(&crt, ca ? 1 : 0, -1), "basic constraints");
  check(mbedtls_x509write_crt_set_subject_key_identifier(&crt), "subject key id");
  check(mbedtls_x509write_crt_set_authority_key_identifier(&crt), "authority key id");
  check(mbedtls_x509write_crt_set_key_usage(
            &crt, ca ? MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN
                     : MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_AGREEMENT),
        "key usage");
  if (!dns_names.empty()) {
    auto der = san_der(dns_names);
    check(mbedtls_x509write_crt_set_extension(
              &crt, MBEDTLS_OID_SUBJECT_ALT_NAME, MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
              reinterpret_cast<const unsigned char*>(der.data()), der.size()),
          "subject alt name");
  }
  if (!ca) {
    // ExtendedKeyUsage ::= SEQUENCE OF KeyPurposeId (serverAuth or clientAuth).
    std::string oid =
        client ? std::string(MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH))
               : std::string(MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
    std::string inner(1, 0x06);
    der_length(inner, oid.size());
    inner += oid;
    std::string eku(1, 0x30);
    der_length(eku, inner.size());
    eku += inner;
    check(mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
                                              reinterpret_cast<const unsigned char*>(eku.data()),
                                              eku.size()),
          "extended key usage");
  }
  unsigned char buf[8192] = {};
  check(
      mbedtls_x509write_crt_pem(&crt, buf, sizeof buf, mbedtls_ctr_drbg_random, &generator().drbg),
      "crt_pem");
  mbedtls_x509write_crt_free(&crt);
  mbedtls_mpi_free(&serial);
  return reinterpret_cast<const char*>(buf);
}

} // namespace

test_ca::test_ca(std::string name) : name_("CN=" + std::move(name)) {
  key k;
  ca_.key_pem = k.pem();
  ca_.cert_pem =
      make_cert(&k.pk, &k.pk, name_, name_, "20240101000000", "20991231235959", true, {}, false);
}

key_and_cert test_ca::issue(const leaf_spec& spec) const {
  key leaf;
  key issuer(ca_.key_pem);
  key_and_cert out;
  out.key_pem = leaf.pem();
  out.cert_pem = make_cert(&leaf.pk, &issuer.pk, "CN=" + spec.common_name, name_, spec.not_before,
                           spec.not_after, false, spec.dns_names, spec.client);
  return out;
}

coronet::tls_identity identity_of(const key_and_cert& kc) {
  coronet::tls_identity id;
  id.certificate_chain_pem = kc.cert_pem;
  id.private_key_pem = kc.key_pem;
  return id;
}

std::string write_temp_file(const std::string& name, const std::string& text) {
  char dir[] = "/tmp/coronet-test-XXXXXX";
  if (!::mkdtemp(dir)) throw std::runtime_error("test_pki: mkdtemp failed");
  std::string path = std::string(dir) + "/" + name;
  std::ofstream(path) << text;
  return path;
}

} // namespace coronet::test
