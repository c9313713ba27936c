// TLS on mbedTLS 2.28, fed from memory: the BIO callbacks read ciphertext
// from the engine's input buffer and append ciphertext to its output
// vector; tls_stream<Stream> moves the bytes to and from the socket.
#include <coronet/detail/tls_engine.hpp>
#include <coronet/error.hpp>
#include <coronet/log.hpp>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <algorithm>
#include <cstring>

namespace coronet::detail {
namespace {

constexpr const char* system_ca_bundle = "/etc/ssl/certs/ca-certificates.crt";
constexpr std::size_t record_room = 18 * 1024; // a TLS record (16 KiB + overhead) fits
constexpr std::size_t max_write_chunk = 256 * 1024;

// ECDHE key exchange and AEAD ciphers only, strongest-and-fastest first.
constexpr const char* suite_names[] = {
    "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256",       "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256",
    "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384",       "TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384",
    "TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256", "TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256",
};

std::string mbedtls_text(int rc) {
  char buf[160];
  mbedtls_strerror(rc, buf, sizeof buf);
  return buf;
}

class tls_errors final : public std::error_category {
public:
  const char* name() const noexcept override { return "coronet.tls"; }
  std::string message(int value) const override {
    if (value < 0) return "TLS: " + mbedtls_text(value);
    switch (static_cast<tls_errc>(value)) {
    case tls_errc::certificate_expired: return "TLS: the peer's certificate has expired";
    case tls_errc::certificate_not_yet_valid: return "TLS: the peer's certificate is not valid yet";
    case tls_errc::unknown_ca:
      return "TLS: the peer's certificate is not signed by a trusted CA (unknown CA)";
    case tls_errc::name_mismatch:
      return "TLS: the peer's certificate is not for the name connected to (name mismatch)";
    case tls_errc::bad_certificate: return "TLS: the peer's certificate did not verify";
    case tls_errc::no_client_certificate:
      return "TLS: a client certificate is required and none was sent";
    case tls_errc::not_tls: return "TLS: the peer does not speak TLS";
    case tls_errc::configuration: return "TLS: a certificate, key or CA could not be loaded";
    }
    return "TLS error " + std::to_string(value);
  }
  // Every handshake refusal (not a configuration the application got
  // wrong) means the peer refused us, or we it.
  std::error_condition default_error_condition(int value) const noexcept override {
    if (value > 0 && value != static_cast<int>(tls_errc::configuration)) return condition::refused;
    return {value, *this};
  }
};

std::error_code tls_error(int rc) { return {rc, tls_category()}; }

struct identity {
  mbedtls_x509_crt chain;
  mbedtls_pk_context key;
  identity() {
    mbedtls_x509_crt_init(&chain);
    mbedtls_pk_init(&key);
  }
  ~identity() {
    mbedtls_x509_crt_free(&chain);
    mbedtls_pk_free(&key);
  }
  identity(const identity&) = delete;
  identity& operator=(const identity&) = delete;

  // True if the leaf certificate is for `name` (SAN DNS names or CN,
  // wildcards as mbedTLS's own verification treats them).
  bool is_for(std::string_view name) const {
    std::string n(name);
    uint32_t flags = 0;
    mbedtls_x509_crt_verify(const_cast<mbedtls_x509_crt*>(&chain),
                            const_cast<mbedtls_x509_crt*>(&chain), nullptr, n.c_str(), &flags,
                            nullptr, nullptr);
    return !(flags & MBEDTLS_X509_BADCERT_CN_MISMATCH);
  }
};

} // namespace

class tls_config {
public:
  tls_role role;
  mbedtls_ssl_config conf;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_x509_crt ca;
  bool have_ca = false;
  std::vector<std::unique_ptr<identity>> identities;
  std::vector<std::string> alpn;
  std::vector<const char*> alpn_list;
  std::vector<int> suites;
  bool verify = true;

  explicit tls_config(tls_role r) : role(r) {
    mbedtls_ssl_config_init(&conf);
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_x509_crt_init(&ca);
  }
  ~tls_config() {
    mbedtls_ssl_config_free(&conf);
    mbedtls_x509_crt_free(&ca);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
  tls_config(const tls_config&) = delete;
  tls_config& operator=(const tls_config&) = delete;

  static int pick_certificate(void* p, mbedtls_ssl_context* ssl, const unsigned char* name,
                              size_t len) {
    auto& self = *static_cast<tls_config*>(p);
    std::string_view wanted(reinterpret_cast<const char*>(name), len);
    for (auto& id : self.identities)
      if (id->is_for(wanted)) return mbedtls_ssl_set_hs_own_cert(ssl, &id->chain, &id->key);
    return 0; // the default certificate
  }
};

namespace {

result<std::shared_ptr<const tls_config>> bad_config(std::string* why, std::string text) {
  if (why)
    *why = std::move(text);
  else
    log(log_level::error, "TLS configuration: " + text);
  return fail(tls_errc::configuration);
}

int parse_pem_certs(mbedtls_x509_crt* crt, const std::string& pem) {
  return mbedtls_x509_crt_parse(crt, reinterpret_cast<const unsigned char*>(pem.c_str()),
                                pem.size() + 1);
}

} // namespace

result<std::shared_ptr<const tls_config>> make_tls_config(tls_role role, const tls_options& o,
                                                          std::vector<std::string> extra_alpn,
                                                          std::string* why) {
  auto c = std::make_shared<tls_config>(role);
  static const unsigned char personalization[] = "coronet tls";
  if (int rc = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy, personalization,
                                     sizeof personalization - 1))
    return bad_config(why, "cannot seed the random generator: " + mbedtls_text(rc));
  int endpoint = role == tls_role::server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT;
  if (int rc = mbedtls_ssl_config_defaults(&c->conf, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
                                           MBEDTLS_SSL_PRESET_DEFAULT))
    return bad_config(why, mbedtls_text(rc));
  mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
  mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  for (auto* name : suite_names)
    if (int id = mbedtls_ssl_get_ciphersuite_id(name)) c->suites.push_back(id);
  c->suites.push_back(0);
  mbedtls_ssl_conf_ciphersuites(&c->conf, c->suites.data());

  for (auto& id : o.identities) {
    auto loaded = std::make_unique<identity>();
    int rc = !id.certificate_chain_file.empty()
                 ? mbedtls_x509_crt_parse_file(&loaded->chain, id.certificate_chain_file.c_str())
                 : parse_pem_certs(&loaded->chain, id.certificate_chain_pem);
    if (rc != 0)
      return bad_config(why, "cannot load the certificate chain " +
                                 (id.certificate_chain_file.empty() ? std::string("(PEM text)")
                                                                    : id.certificate_chain_file) +
                                 ": " + mbedtls_text(rc));
    const char* password =
        id.private_key_password.empty() ? nullptr : id.private_key_password.c_str();
    rc = !id.private_key_file.empty()
             ? mbedtls_pk_parse_keyfile(&loaded->key, id.private_key_file.c_str(), password)
             : mbedtls_pk_parse_key(
                   &loaded->key, reinterpret_cast<const unsigned char*>(id.private_key_pem.c_str()),
                   id.private_key_pem.size() + 1, reinterpret_cast<const unsigned char*>(password),
                   password ? id.private_key_password.size() : 0);
    if (rc != 0)
      return bad_config(
          why, "cannot load the private key " +
                   (id.private_key_file.empty() ? std::string("(PEM text)") : id.private_key_file) +
                   ": " + mbedtls_text(rc));
    if (mbedtls_pk_check_pair(&loaded->chain.pk, &loaded->key) != 0)
      return bad_config(
          why, "the private key " +
                   (id.private_key_file.empty() ? std::string("(PEM text)") : id.private_key_file) +
                   " does not belong to the certificate " +
                   (id.certificate_chain_file.empty() ? std::string("(PEM text)")
                                                      : id.certificate_chain_file));
    c->identities.push_back(std::move(loaded));
  }
  if (role == tls_role::server && c->identities.empty())
    return bad_config(why,
                      "a TLS server needs a certificate and its key (tls_options::identities)");
  if (!c->identities.empty())
    mbedtls_ssl_conf_own_cert(&c->conf, &c->identities[0]->chain, &c->identities[0]->key);
  if (role == tls_role::server && c->identities.size() > 1)
    mbedtls_ssl_conf_sni(&c->conf, &tls_config::pick_certificate, c.get());

  for (auto& file : o.ca_files) {
    if (int rc = mbedtls_x509_crt_parse_file(&c->ca, file.c_str()); rc < 0)
      return bad_config(why, "cannot load the CA file " + file + ": " + mbedtls_text(rc));
    c->have_ca = true;
  }
  for (auto& pem : o.ca_pem) {
    if (int rc = parse_pem_certs(&c->ca, pem); rc < 0)
      return bad_config(why, "cannot load the CA certificate (PEM text): " + mbedtls_text(rc));
    c->have_ca = true;
  }
  if (role == tls_role::client) {
    c->verify = !o.insecure_skip_verify;
    if (c->verify && !c->have_ca) {
      // Parsing the system bundle tolerates the odd certificate mbedTLS
      // cannot read (a positive count), as long as some load.
      int rc = mbedtls_x509_crt_parse_file(&c->ca, system_ca_bundle);
      if (rc < 0 || c->ca.version == 0)
        return bad_config(why, std::string("cannot load the system CA bundle ") + system_ca_bundle +
                                   ": " + mbedtls_text(rc));
      c->have_ca = true;
    }
    mbedtls_ssl_conf_authmode(&c->conf,
                              c->verify ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_NONE);
  } else {
    if (o.require_client_certificate && !c->have_ca)
      return bad_config(why, "require_client_certificate needs the clients' CA (ca_files)");
    mbedtls_ssl_conf_authmode(&c->conf, o.require_client_certificate ? MBEDTLS_SSL_VERIFY_REQUIRED
                                                                     : MBEDTLS_SSL_VERIFY_NONE);
  }
  if (c->have_ca) mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, nullptr);

  c->alpn = o.alpn;
  for (auto& p : extra_alpn)
    if (std::find(c->alpn.begin(), c->alpn.end(), p) == c->alpn.end()) c->alpn.push_back(p);
  if (!c->alpn.empty()) {
    for (auto& p : c->alpn) c->alpn_list.push_back(p.c_str());
    c->alpn_list.push_back(nullptr);
    mbedtls_ssl_conf_alpn_protocols(&c->conf, c->alpn_list.data());
  }
  return std::shared_ptr<const tls_config>(std::move(c));
}

struct tls_engine::impl {
  std::shared_ptr<const tls_config> config;
  mbedtls_ssl_context ssl;
  std::vector<std::byte> in;
  std::size_t in_begin = 0, in_end = 0;
  std::vector<std::byte>* out;
  std::size_t received = 0; // ciphertext bytes ever read
  bool handshake_done = false;

  impl(std::shared_ptr<const tls_config> c, std::vector<std::byte>* o)
      : config(std::move(c)), out(o) {
    mbedtls_ssl_init(&ssl);
  }
  ~impl() { mbedtls_ssl_free(&ssl); }
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  static int on_send(void* p, const unsigned char* buf, size_t len) {
    auto& s = *static_cast<impl*>(p);
    auto b = reinterpret_cast<const std::byte*>(buf);
    s.out->insert(s.out->end(), b, b + len);
    return static_cast<int>(len);
  }

  static int on_recv(void* p, unsigned char* buf, size_t len) {
    auto& s = *static_cast<impl*>(p);
    std::size_t have = s.in_end - s.in_begin;
    if (have == 0) return MBEDTLS_ERR_SSL_WANT_READ;
    std::size_t n = std::min(have, len);
    std::memcpy(buf, s.in.data() + s.in_begin, n);
    s.in_begin += n;
    if (s.in_begin == s.in_end) s.in_begin = s.in_end = 0;
    return static_cast<int>(n);
  }

  std::error_code handshake_error(int rc) const {
    if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
      auto flags = mbedtls_ssl_get_verify_result(&ssl);
      if (flags & MBEDTLS_X509_BADCERT_EXPIRED) return tls_errc::certificate_expired;
      if (flags & MBEDTLS_X509_BADCERT_FUTURE) return tls_errc::certificate_not_yet_valid;
      if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) return tls_errc::name_mismatch;
      if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) return tls_errc::unknown_ca;
      return tls_errc::bad_certificate;
    }
    if (rc == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE) return tls_errc::no_client_certificate;
    if (rc == MBEDTLS_ERR_SSL_INVALID_RECORD || rc == MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO ||
        rc == MBEDTLS_ERR_SSL_BAD_INPUT_DATA)
      return tls_errc::not_tls;
    return tls_error(rc);
  }
};

tls_engine::tls_engine(std::shared_ptr<const tls_config> config, std::string_view server_name)
    : impl_(std::make_unique<impl>(std::move(config), &out_)) {
  auto& s = *impl_;
  if (mbedtls_ssl_setup(&s.ssl, &s.config->conf) != 0) throw std::bad_alloc();
  mbedtls_ssl_set_bio(&s.ssl, impl_.get(), &impl::on_send, &impl::on_recv, nullptr);
  if (s.config->role == tls_role::client && !server_name.empty()) {
    std::string name(server_name);
    mbedtls_ssl_set_hostname(&s.ssl, name.c_str());
  }
}

tls_engine::~tls_engine() = default;

std::span<std::byte> tls_engine::input_space() {
  auto& s = *impl_;
  if (s.in_begin > 0 && s.in_begin == s.in_end) s.in_begin = s.in_end = 0;
  if (s.in.size() - s.in_end < record_room) {
    if (s.in_begin > 0) {
      std::memmove(s.in.data(), s.in.data() + s.in_begin, s.in_end - s.in_begin);
      s.in_end -= s.in_begin;
      s.in_begin = 0;
    }
    if (s.in.size() - s.in_end < record_room) s.in.resize(s.in_end + record_room);
  }
  return {s.in.data() + s.in_end, s.in.size() - s.in_end};
}

void tls_engine::commit_input(std::size_t n) {
  impl_->in_end += n;
  impl_->received += n;
}

bool tls_engine::peer_spoke() const { return impl_->received > 0; }

result<bool> tls_engine::handshake() {
  auto& s = *impl_;
  int rc = mbedtls_ssl_handshake(&s.ssl);
  if (rc == 0) {
    s.handshake_done = true;
    return true;
  }
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return false;
  return fail(s.handshake_error(rc));
}

result<std::size_t> tls_engine::read(std::span<std::byte> buf) {
  auto& s = *impl_;
  int rc = mbedtls_ssl_read(&s.ssl, reinterpret_cast<unsigned char*>(buf.data()), buf.size());
  if (rc > 0) return static_cast<std::size_t>(rc);
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return 0;
  if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) return fail(errc::closed);
  return fail(tls_error(rc));
}

bool tls_engine::has_buffered_input() const {
  return mbedtls_ssl_get_bytes_avail(&impl_->ssl) > 0 || impl_->in_end > impl_->in_begin;
}

result<std::size_t> tls_engine::write(std::span<const std::byte> buf) {
  auto& s = *impl_;
  auto limit = std::min(buf.size(), max_write_chunk);
  std::size_t done = 0;
  while (done < limit) {
    int rc = mbedtls_ssl_write(&s.ssl, reinterpret_cast<const unsigned char*>(buf.data()) + done,
                               limit - done);
    if (rc > 0) {
      done += static_cast<std::size_t>(rc);
      continue;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == MBEDTLS_ERR_SSL_WANT_READ) break;
    return fail(tls_error(rc));
  }
  return done;
}

void tls_engine::close_notify() { mbedtls_ssl_close_notify(&impl_->ssl); }

std::string_view tls_engine::alpn() const {
  const char* p = mbedtls_ssl_get_alpn_protocol(&impl_->ssl);
  return p ? std::string_view(p) : std::string_view();
}

std::vector<std::byte> tls_engine::peer_certificate() const {
  auto* crt = mbedtls_ssl_get_peer_cert(&impl_->ssl);
  if (!crt) return {};
  auto* p = reinterpret_cast<const std::byte*>(crt->raw.p);
  return {p, p + crt->raw.len};
}

std::string tls_engine::peer_subject() const {
  auto* crt = mbedtls_ssl_get_peer_cert(&impl_->ssl);
  if (!crt) return {};
  char buf[512];
  int n = mbedtls_x509_dn_gets(buf, sizeof buf, &crt->subject);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

} // namespace coronet::detail

namespace coronet {

const std::error_category& tls_category() noexcept {
  static const detail::tls_errors instance;
  return instance;
}

} // namespace coronet
