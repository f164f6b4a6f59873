#include "tls/client_tls_context.h"

#include <openssl/x509v3.h>

#include "tls/certificate_file.h"
#include "tls/file_checks.h"
#include "tls/tls_settings.h"

namespace weir::tls {
namespace {

Error configError(const std::string& detail) {
  return Error{ErrorCode::InvalidArgument, Side::Internal, false, detail};
}

// The name a client SSL was made for travels with it as ex_data (an owned std::string).
void freeName(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::string*>(ptr);
}

int nameIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, freeName);
  return index;
}

bool isIpAddress(const std::string& name) {
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str());
  ERR_clear_error();
  if (!ip) return false;
  ASN1_OCTET_STRING_free(ip);
  return true;
}

}  // namespace

ClientTlsContext::~ClientTlsContext() {
  for (auto& [name, session] : sessions_) SSL_SESSION_free(session);
}

Result<std::shared_ptr<ClientTlsContext>> ClientTlsContext::create(const ClientTlsConfig& config) {
  ERR_clear_error();
  const std::optional<int> max_version = parseTlsVersion(config.max_version);
  if (!max_version) {
    return configError("max_version: unknown TLS version '" + config.max_version +
                       "' (use 1.2 or 1.3)");
  }
  auto alpn = alpnWire(config.alpn);
  if (!alpn) return alpn.error();
  if (config.client_cert.empty() != config.client_key.empty()) {
    return configError("client_cert and client_key go together");
  }

  std::shared_ptr<ClientTlsContext> self(new ClientTlsContext(config));
  self->ctx_.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* c = self->ctx_.get();
  if (!c) return configError("cannot create SSL_CTX: " + takeOpenSslErrors());
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(c, *max_version);
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  const std::string ciphers = config.ciphers == "default" ? kDefaultCiphers12 : config.ciphers;
  if (SSL_CTX_set_cipher_list(c, ciphers.c_str()) != 1) {
    ERR_clear_error();
    return configError("ciphers: no usable TLS 1.2 cipher in '" + ciphers + "'");
  }
  if (config.verify) {
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    if (!config.ca_file.empty()) {
      // OpenSSL's reason for a missing file is "system lib", without the errno text.
      if (auto unreadable = unreadableFile(config.ca_file)) return configError(*unreadable);
      if (SSL_CTX_load_verify_file(c, config.ca_file.c_str()) != 1) {
        return configError(config.ca_file +
                           ": cannot load CA certificates: " + takeOpenSslErrors());
      }
    } else if (SSL_CTX_set_default_verify_paths(c) != 1) {
      return configError("cannot load the system CA store: " + takeOpenSslErrors());
    }
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  }
  if (!config.client_cert.empty()) {
    auto cert = CertificateFile::load(config.client_cert, config.client_key);
    if (!cert) return cert.error();
    if (SSL_CTX_use_cert_and_key(c, cert->leaf.get(), cert->key.get(), cert->chain.get(), 1) != 1) {
      return configError(config.client_cert + ": " + takeOpenSslErrors());
    }
  }
  if (!alpn->empty()) {
    // The one OpenSSL setter that returns 0 on success.
    if (SSL_CTX_set_alpn_protos(c, reinterpret_cast<const unsigned char*>(alpn->data()),
                                static_cast<unsigned int>(alpn->size())) != 0) {
      return configError("alpn: " + takeOpenSslErrors());
    }
  }
  // Sessions live in sessions_ (keyed by server name), not in OpenSSL's client cache.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(c, onNewSession);
  SSL_CTX_set_app_data(c, self.get());
  return self;
}

SSL* ClientTlsContext::newSsl(std::string_view server_name) const {
  SslPtr ssl(SSL_new(ctx_.get()));
  if (!ssl) return nullptr;
  std::string name(server_name.empty() ? std::string_view(config_.server_name) : server_name);
  if (!name.empty()) {
    const bool ip = isIpAddress(name);
    if (!ip && SSL_set_tlsext_host_name(ssl.get(), name.c_str()) != 1) return nullptr;
    if (config_.verify) {
      const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), name.c_str())
                        : SSL_set1_host(ssl.get(), name.c_str());
      if (ok != 1) return nullptr;
      SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
  }
  if (SSL_SESSION* session = takeSession(name)) {
    SSL_set_session(ssl.get(), session);
    SSL_SESSION_free(session);
  }
  auto* owned = new std::string(std::move(name));
  if (SSL_set_ex_data(ssl.get(), nameIndex(), owned) != 1) {
    delete owned;
    return nullptr;
  }
  ERR_clear_error();
  return ssl.release();
}

size_t ClientTlsContext::storedSessions() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

SSL_SESSION* ClientTlsContext::takeSession(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(name);
  if (it == sessions_.end()) return nullptr;
  SSL_SESSION_up_ref(it->second);
  return it->second;
}

// Called on the thread running the handshake (TLS 1.3: when a NewSessionTicket is read).
int ClientTlsContext::onNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<ClientTlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const auto* name = static_cast<const std::string*>(SSL_get_ex_data(ssl, nameIndex()));
  if (!self || !name || !SSL_SESSION_is_resumable(session)) return 0;
  std::lock_guard lock(self->mu_);
  SSL_SESSION*& slot = self->sessions_[*name];
  if (slot) SSL_SESSION_free(slot);
  slot = session;
  return 1;  // we keep the reference
}

}  // namespace weir::tls
