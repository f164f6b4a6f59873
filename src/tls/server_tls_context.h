// ServerTlsContext: everything a listener needs to terminate TLS — certificates indexed by SNI
// name, protocol floor, ciphers, ALPN, session cache and ticket keys, client-certificate policy,
// OCSP staple. Built on the control thread (start-up, reload) and immutable afterwards; shared
// read-only by all workers through std::shared_ptr (SSL_CTX is thread-safe for this use; the
// session cache and ticket key ring inside are locked), so a session resumes on any worker.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "tls/openssl_ptr.h"
#include "tls/ticket_key_ring.h"

namespace weir::tls {

struct CertificateSpec {
  std::string cert_file;  // PEM: the certificate, then its intermediates
  std::string key_file;   // PEM, unencrypted
};

struct ServerTlsConfig {
  enum ClientAuth { None, Optional, Require };

  /// At least one. The first is the default for clients sending no or an unknown SNI name. An RSA
  /// and an ECDSA certificate may serve the same names: OpenSSL picks by what the client supports.
  std::vector<CertificateSpec> certificates;
  std::string min_version = "1.2";  // "1.2" | "1.3"; 1.1 and below are always refused
  std::string ciphers = "default";  // TLS 1.2 OpenSSL cipher list; "default": ECDHE + AEAD only
  std::vector<std::string> alpn = {"http/1.1"};  // server preference order; no overlap: no ALPN
  bool session_tickets = true;  // off: TLS 1.2 resumes by session id, TLS 1.3 by stateful ticket
  std::string client_ca;        // PEM bundle; required unless client_auth is None
  ClientAuth client_auth = None;
  std::string ocsp_staple_file;  // DER OCSP response for certificates[0], stapled when asked
};

class ServerTlsContext : public std::enable_shared_from_this<ServerTlsContext> {
 public:
  /// Session lifetime: how long a ticket or cached session id can be resumed.
  static constexpr long kSessionLifetimeSeconds = 3600;

  /// Loads and checks everything; errors name the file or the field. Non-fatal findings (expired
  /// certificate, certificate shadowed by another of the same key type) go to `warnings` if given.
  /// `previous`: the context this one replaces on reload; its ticket keys carry over, so tickets
  /// issued before the reload still resume (the server-side session cache does not carry over).
  static Result<std::shared_ptr<ServerTlsContext>> create(
      const ServerTlsConfig& config, std::vector<std::string>* warnings,
      const ServerTlsContext* previous = nullptr);
  ~ServerTlsContext();
  ServerTlsContext(const ServerTlsContext&) = delete;
  ServerTlsContext& operator=(const ServerTlsContext&) = delete;

  /// Every name served, exact and wildcard ("*.example.com"), in certificate order.
  std::vector<std::string> names() const;
  /// The SSL_CTX new server SSLs start from (the default certificate's); for TlsSession.
  SSL_CTX* sslContext() const { return default_; }
  /// The SSL_CTX holding the certificates for `host`: exact name, else a wildcard covering its
  /// first label, else the default. Any thread.
  SSL_CTX* sslContextFor(std::string_view host) const;

 private:
  ServerTlsContext() = default;

  static int onClientHello(SSL* ssl, int* alert, void* arg);
  static int onServerName(SSL* ssl, int* alert, void* arg);
  static int onAlpn(SSL* ssl, const unsigned char** out, unsigned char* out_len,
                    const unsigned char* in, unsigned int in_len, void* arg);
  static int onOcspStatus(SSL* ssl, void* arg);
  static int onTicketKey(SSL* ssl, unsigned char* key_name, unsigned char* iv,
                         EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt);

  std::vector<SslCtxPtr> contexts_;                     // one per distinct certificate set
  SSL_CTX* default_ = nullptr;                          // points into contexts_
  std::unordered_map<std::string, SSL_CTX*> exact_;     // "a.example.com"
  std::unordered_map<std::string, SSL_CTX*> wildcard_;  // "*.example.com"
  std::vector<std::string> names_;
  std::vector<std::string> alpn_;               // server preference order
  std::string ocsp_staple_;                     // DER; empty: none
  X509Ptr ocsp_certificate_;                    // the leaf the staple belongs to
  std::shared_ptr<TicketKeyRing> ticket_keys_;  // shared with the context reloaded from this one
};

}  // namespace weir::tls
