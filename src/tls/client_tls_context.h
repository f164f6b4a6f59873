// ClientTlsContext: TLS towards upstreams — trust store, hostname verification, SNI, ALPN, client
// certificate, and session resumption across pooled connections (the last resumable session per
// server name). Built on the control thread, then shared by all workers: the SSL_CTX is
// thread-safe and the session store is guarded by a mutex (taken once per connection), so one
// context per upstream cluster is enough; a per-worker context would only trade the lock for
// fewer resumptions.
#pragma once

#include <openssl/types.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "tls/openssl_ptr.h"

namespace weir::tls {

struct ClientTlsConfig {
  bool verify = true;       // chain and host name; off only for tests and lab setups
  std::string ca_file;      // PEM bundle; empty: the system store
  std::string server_name;  // SNI and verified name when TlsSession::client gets none
  std::string client_cert;  // PEM chain for mutual TLS; with client_key, or neither
  std::string client_key;
  std::vector<std::string> alpn;    // offered in this order; empty: no ALPN
  std::string max_version = "1.3";  // "1.2" | "1.3"; the floor is always 1.2
  std::string ciphers = "default";  // TLS 1.2 OpenSSL cipher list; "default": ECDHE + AEAD only
};

class ClientTlsContext : public std::enable_shared_from_this<ClientTlsContext> {
 public:
  /// Errors name the file (CA bundle, client certificate or key) or the field.
  static Result<std::shared_ptr<ClientTlsContext>> create(const ClientTlsConfig& config);
  ~ClientTlsContext();
  ClientTlsContext(const ClientTlsContext&) = delete;
  ClientTlsContext& operator=(const ClientTlsContext&) = delete;

  const ClientTlsConfig& config() const { return config_; }

  /// A new client SSL for `server_name` (empty: config().server_name): SNI unless it is an IP
  /// address, host/IP verification when verify is on (with no name at all, the chain only), and
  /// the stored session for that name to resume, if any. For TlsSession; the caller owns it.
  /// Null if OpenSSL cannot allocate or the name is unusable (over 255 bytes). Any thread.
  SSL* newSsl(std::string_view server_name) const;

  /// Sessions currently stored (one per server name at most); for tests and stats.
  size_t storedSessions() const;

 private:
  explicit ClientTlsContext(ClientTlsConfig config) : config_(std::move(config)) {}

  static int onNewSession(SSL* ssl, SSL_SESSION* session);
  // A session to offer for `name` (a new reference) or null. The latest session stays until a
  // newer one replaces it, TLS 1.3 tickets included: RFC 8446 C.4 advises single use for privacy
  // (unlinkable connections), which buys nothing between a proxy and its upstreams, while servers
  // that do not reissue tickets on resumption would cost a full handshake every other time. A
  // server enforcing single use just answers with a full handshake.
  SSL_SESSION* takeSession(const std::string& name) const;

  ClientTlsConfig config_;
  SslCtxPtr ctx_;
  mutable std::mutex mu_;
  mutable std::map<std::string, SSL_SESSION*> sessions_;  // owned references; guarded by mu_
};

}  // namespace weir::tls
