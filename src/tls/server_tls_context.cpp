#include "tls/server_tls_context.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>
#include <map>
#include <set>

#include "tls/certificate_file.h"
#include "tls/file_checks.h"
#include "tls/tls_settings.h"

namespace weir::tls {
namespace {

Error configError(const std::string& detail) {
  return Error{ErrorCode::InvalidArgument, Side::Internal, false, detail};
}

int refusePassphrase(char*, int, int, void*) { return 0; }

}  // namespace

ServerTlsContext::~ServerTlsContext() = default;

Result<std::shared_ptr<ServerTlsContext>> ServerTlsContext::create(
    const ServerTlsConfig& config, std::vector<std::string>* warnings,
    const ServerTlsContext* previous) {
  std::set<std::string> warned;
  auto warn = [&](const std::string& w) {
    if (warnings && warned.insert(w).second) warnings->push_back(w);
  };
  ERR_clear_error();

  if (config.certificates.empty()) return configError("no certificates configured");
  const std::optional<int> min_version = parseTlsVersion(config.min_version);
  if (!min_version) {
    return configError("min_version: unknown TLS version '" + config.min_version +
                       "' (use 1.2 or 1.3)");
  }
  const std::string ciphers = config.ciphers == "default" ? kDefaultCiphers12 : config.ciphers;
  if (auto wire = alpnWire(config.alpn); !wire) return wire.error();
  if (config.client_auth != ServerTlsConfig::None && config.client_ca.empty()) {
    return configError("client_auth requires client_ca");
  }
  if (config.client_auth == ServerTlsConfig::None && !config.client_ca.empty()) {
    warn("client_ca is set but client_auth is none: client certificates are not requested");
  }

  std::shared_ptr<ServerTlsContext> self(new ServerTlsContext());
  self->alpn_ = config.alpn;

  std::vector<CertificateFile> certs;
  for (const CertificateSpec& spec : config.certificates) {
    auto file = CertificateFile::load(spec.cert_file, spec.key_file);
    if (!file) return file.error();
    if (auto w = file->validityWarning()) warn(*w);
    if (file->names.empty()) {
      warn(spec.cert_file + ": no DNS name in the certificate: served only as default");
    }
    certs.push_back(std::move(*file));
  }

  std::optional<ClientCaFile> client_ca;
  if (config.client_auth != ServerTlsConfig::None) {
    auto loaded = loadClientCaFile(config.client_ca);
    if (!loaded) return loaded.error();
    client_ca = std::move(*loaded);
  }

  if (!config.ocsp_staple_file.empty()) {
    auto staple = loadOcspResponse(config.ocsp_staple_file);
    if (!staple) return staple.error();
    self->ocsp_staple_ = std::move(*staple);
    X509_up_ref(certs[0].leaf.get());
    self->ocsp_certificate_.reset(certs[0].leaf.get());
  }

  if (config.session_tickets && previous && previous->ticket_keys_) {
    self->ticket_keys_ = previous->ticket_keys_;
  } else if (config.session_tickets) {
    self->ticket_keys_ = TicketKeyRing::create(TicketKeyRing::Clock::now());
    if (!self->ticket_keys_) return configError("cannot create session ticket keys: no randomness");
  }

  auto sessionIdContext = [&](const std::vector<size_t>& set, unsigned char* out) {
    std::string leaves;
    for (size_t i : set) {
      unsigned char leaf[EVP_MAX_MD_SIZE];
      unsigned int n = 0;
      if (X509_digest(certs[i].leaf.get(), EVP_sha256(), leaf, &n) != 1) return false;
      leaves.append(reinterpret_cast<const char*>(leaf), n);
    }
    return EVP_Digest(leaves.data(), leaves.size(), out, nullptr, EVP_sha256(), nullptr) == 1;
  };

  // One SSL_CTX per distinct set of certificates covering a name, holding every certificate of
  // the set (at most one per key type: OpenSSL then picks RSA or ECDSA by client capability).
  auto build = [&](const std::vector<size_t>& set, const std::string& name) -> Result<SSL_CTX*> {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) return configError("cannot create SSL_CTX: " + takeOpenSslErrors());
    SSL_CTX* c = ctx.get();
    SSL_CTX_set_min_proto_version(c, *min_version);
    SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
    // Server order, except that a client preferring ChaCha20 (no AES hardware) gets it.
    uint64_t options = SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                       SSL_OP_PRIORITIZE_CHACHA | SSL_OP_NO_COMPRESSION;
    if (!config.session_tickets) options |= SSL_OP_NO_TICKET;
    SSL_CTX_set_options(c, options);
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(c, ciphers.c_str()) != 1) {
      ERR_clear_error();
      return configError("ciphers: no usable TLS 1.2 cipher in '" + ciphers + "'");
    }
    SSL_CTX_set_default_passwd_cb(c, refusePassphrase);
    // Sessions belong to the certificates they were made with: a session for one set of names
    // does not resume under another (RFC 6066 section 3). The context is a digest of the leaf
    // certificates, so it survives a reload that keeps them.
    unsigned char sid_ctx[SHA256_DIGEST_LENGTH];
    if (!sessionIdContext(set, sid_ctx) ||
        SSL_CTX_set_session_id_context(c, sid_ctx, sizeof sid_ctx) != 1) {
      return configError("cannot set the session id context: " + takeOpenSslErrors());
    }
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_timeout(c, kSessionLifetimeSeconds);
    SSL_CTX_set_app_data(c, self.get());
    SSL_CTX_set_client_hello_cb(c, onClientHello, self.get());
    SSL_CTX_set_tlsext_servername_callback(c, onServerName);
    SSL_CTX_set_tlsext_servername_arg(c, self.get());
    if (!self->alpn_.empty()) SSL_CTX_set_alpn_select_cb(c, onAlpn, self.get());
    if (!self->ocsp_staple_.empty()) {
      SSL_CTX_set_tlsext_status_cb(c, onOcspStatus);
      SSL_CTX_set_tlsext_status_arg(c, self.get());
    }
    if (self->ticket_keys_) SSL_CTX_set_tlsext_ticket_key_evp_cb(c, onTicketKey);
    if (client_ca) {
      SSL_CTX_set1_cert_store(c, client_ca->store.get());
      SSL_CTX_set_client_CA_list(c, SSL_dup_CA_list(client_ca->names.get()));
      int mode = SSL_VERIFY_PEER;
      if (config.client_auth == ServerTlsConfig::Require) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      SSL_CTX_set_verify(c, mode, nullptr);
    }
    std::map<int, const CertificateFile*> by_key_type;
    for (size_t i : set) {
      const CertificateFile& cert = certs[i];
      const int type = EVP_PKEY_get_base_id(cert.key.get());
      if (auto [it, fresh] = by_key_type.emplace(type, &cert); !fresh) {
        warn(cert.cert_path + ": " + name + " already has a " + cert.keyType() +
             " certificate from " + it->second->cert_path + "; this one is not used for it");
        continue;
      }
      if (SSL_CTX_use_cert_and_key(c, cert.leaf.get(), cert.key.get(), cert.chain.get(), 1) != 1) {
        return configError(cert.cert_path + ": " + takeOpenSslErrors());
      }
    }
    self->contexts_.push_back(std::move(ctx));
    return c;
  };

  // name -> certificates serving it, in config order; names_ in order of first appearance.
  std::map<std::string, std::vector<size_t>> by_name;
  for (size_t i = 0; i < certs.size(); ++i) {
    for (const std::string& name : certs[i].names) {
      auto& owners = by_name[name];
      if (owners.empty()) self->names_.push_back(name);
      if (owners.empty() || owners.back() != i) owners.push_back(i);
    }
  }
  std::map<std::vector<size_t>, SSL_CTX*> by_set;
  auto contextFor = [&](const std::vector<size_t>& set,
                        const std::string& name) -> Result<SSL_CTX*> {
    if (auto it = by_set.find(set); it != by_set.end()) return it->second;
    auto ctx = build(set, name);
    if (ctx) by_set.emplace(set, *ctx);
    return ctx;
  };
  for (const std::string& name : self->names_) {
    auto ctx = contextFor(by_name[name], name);
    if (!ctx) return ctx.error();
    const bool wildcard = name.size() > 2 && name.compare(0, 2, "*.") == 0;
    (wildcard ? self->wildcard_ : self->exact_)[name] = *ctx;
  }
  const std::vector<size_t> default_set =
      certs[0].names.empty() ? std::vector<size_t>{0} : by_name[certs[0].names[0]];
  auto default_ctx = contextFor(default_set, "the default certificate");
  if (!default_ctx) return default_ctx.error();
  self->default_ = *default_ctx;
  return self;
}

std::vector<std::string> ServerTlsContext::names() const { return names_; }

SSL_CTX* ServerTlsContext::sslContextFor(std::string_view host) const {
  const std::string name = normalizeHostName(std::string(host));
  if (auto it = exact_.find(name); it != exact_.end()) return it->second;
  const size_t dot = name.find('.');
  if (dot != std::string::npos && dot > 0 && !wildcard_.empty()) {
    if (auto it = wildcard_.find("*" + name.substr(dot)); it != wildcard_.end()) return it->second;
  }
  return default_;
}

// Runs before OpenSSL looks for a session to resume, so the session id context checked then is
// already that of the certificates for the requested name (SSL_set_SSL_CTX carries it over).
int ServerTlsContext::onClientHello(SSL* ssl, int*, void* arg) {
  const unsigned char* p = nullptr;
  size_t len = 0;
  if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len)) {
    return SSL_CLIENT_HELLO_SUCCESS;
  }
  // ServerNameList (RFC 6066 section 3): u16 length, then entries of u8 type, u16 length, name.
  if (len < 2 || static_cast<size_t>(p[0] << 8 | p[1]) != len - 2) {
    return SSL_CLIENT_HELLO_SUCCESS;  // malformed: OpenSSL's own parser will refuse it
  }
  for (size_t i = 2; i + 3 <= len;) {
    const size_t n = static_cast<size_t>(p[i + 1] << 8 | p[i + 2]);
    if (i + 3 + n > len) break;
    if (p[i] == TLSEXT_NAMETYPE_host_name) {
      const std::string_view name(reinterpret_cast<const char*>(p + i + 3), n);
      SSL_CTX* ctx = static_cast<const ServerTlsContext*>(arg)->sslContextFor(name);
      if (ctx != SSL_get_SSL_CTX(ssl) && !SSL_set_SSL_CTX(ssl, ctx)) {
        return SSL_CLIENT_HELLO_ERROR;
      }
      break;
    }
    i += 3 + n;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

int ServerTlsContext::onServerName(SSL* ssl, int*, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;
  SSL_CTX* ctx = static_cast<const ServerTlsContext*>(arg)->sslContextFor(name);
  // Switches the certificates; protocol, cipher and verify settings stay those of the SSL's
  // first context, and sessions and tickets stay with it too (every context is set up alike).
  if (ctx != SSL_get_SSL_CTX(ssl) && !SSL_set_SSL_CTX(ssl, ctx)) return SSL_TLSEXT_ERR_ALERT_FATAL;
  return SSL_TLSEXT_ERR_OK;
}

int ServerTlsContext::onAlpn(SSL*, const unsigned char** out, unsigned char* out_len,
                             const unsigned char* in, unsigned int in_len, void* arg) {
  const auto* self = static_cast<const ServerTlsContext*>(arg);
  for (const std::string& want : self->alpn_) {  // server preference
    for (unsigned int i = 0; i < in_len;) {
      const unsigned int n = in[i];
      if (i + 1 + n > in_len) break;
      if (n == want.size() && std::memcmp(in + i + 1, want.data(), n) == 0) {
        *out = in + i + 1;
        *out_len = static_cast<unsigned char>(n);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + n;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;  // no overlap: carry on without ALPN
}

int ServerTlsContext::onOcspStatus(SSL* ssl, void* arg) {
  const auto* self = static_cast<const ServerTlsContext*>(arg);
  X509* served = SSL_get_certificate(ssl);  // the certificate chosen for this handshake
  if (!served || X509_cmp(served, self->ocsp_certificate_.get()) != 0) return SSL_TLSEXT_ERR_NOACK;
  auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(self->ocsp_staple_.size()));
  if (!copy) return SSL_TLSEXT_ERR_NOACK;
  std::memcpy(copy, self->ocsp_staple_.data(), self->ocsp_staple_.size());
  if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(self->ocsp_staple_.size())) !=
      1) {
    OPENSSL_free(copy);
    return SSL_TLSEXT_ERR_NOACK;
  }
  return SSL_TLSEXT_ERR_OK;
}

// RFC 5077 ticket protection with the ring's keys (the scheme of
// SSL_CTX_set_tlsext_ticket_key_evp_cb(3)).
int ServerTlsContext::onTicketKey(SSL* ssl, unsigned char* key_name, unsigned char* iv,
                                  EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt) {
  auto* self = static_cast<ServerTlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const auto now = TicketKeyRing::Clock::now();
  TicketKey key;
  int result = 1;
  if (encrypt) {
    key = self->ticket_keys_->encryptionKey(now);
    std::memcpy(key_name, key.name.data(), key.name.size());
    if (RAND_bytes(iv, 16) != 1 ||
        EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes_key.data(), iv) != 1) {
      result = -1;
    }
  } else {
    auto found = self->ticket_keys_->decryptionKey(key_name, now);
    if (!found) return 0;  // unknown or retired key: full handshake
    key = found->key;
    // 2: accept and issue a fresh ticket — under the current key when this one is old, and on
    // every TLS 1.3 resumption, since TLS 1.3 clients use a ticket once (RFC 8446 C.4).
    result = found->current && SSL_version(ssl) < TLS1_3_VERSION ? 1 : 2;
    if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes_key.data(), iv) != 1) {
      result = -1;
    }
  }
  if (result > 0) {
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(
                               OSSL_MAC_PARAM_KEY, key.hmac_key.data(), key.hmac_key.size()),
                           OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(mac, params) != 1) result = -1;
  }
  OPENSSL_cleanse(&key, sizeof key);
  return result;
}

}  // namespace weir::tls
