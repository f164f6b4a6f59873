// In-memory TLS peers for tests: a client and a server TlsSession wired back to back (bytes pumped
// between them for a bounded number of rounds), context builders over the test certificates, and
// a bare OpenSSL client for what ClientTlsContext refuses to do (old protocols, odd cipher lists,
// chosen signature algorithms, OCSP requests).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "test_certs.h"
#include "tls/tls_context.h"
#include "tls/tls_session.h"

namespace weir::tls::testing {

using Status = TlsSession::Status;

inline ::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

/// Server config over the test certificates: a.test (RSA first, so the default, then ECDSA),
/// b.test (with its intermediate), *.w.test.
inline ServerTlsConfig serverConfig() {
  const TestCerts& c = testCerts();
  ServerTlsConfig config;
  config.certificates = {{c.path("a.crt"), c.path("a.key")},
                         {c.path("a-ec.crt"), c.path("a-ec.key")},
                         {c.path("b.crt"), c.path("b.key")},
                         {c.path("w.crt"), c.path("w.key")}};
  return config;
}

/// Client config trusting the test CA.
inline ClientTlsConfig clientConfig() {
  ClientTlsConfig config;
  config.ca_file = testCerts().path("ca.crt");
  return config;
}

inline std::shared_ptr<ServerTlsContext> makeServer(const ServerTlsConfig& config,
                                                    std::vector<std::string>* warnings = nullptr) {
  auto r = ServerTlsContext::create(config, warnings);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().detail);
  return r.ok() ? r.value() : nullptr;
}

inline std::shared_ptr<ClientTlsContext> makeClient(const ClientTlsConfig& config) {
  auto r = ClientTlsContext::create(config);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().detail);
  return r.ok() ? r.value() : nullptr;
}

/// A client and a server session connected back to back.
struct Connection {
  static constexpr int kMaxRounds = 64;

  std::unique_ptr<TlsSession> client;
  std::unique_ptr<TlsSession> server;
  std::string client_received;  // application data the client read
  std::string server_received;
  Status client_status = Status::Ok;  // sticky: Failed, then Closed, win over Ok
  Status server_status = Status::Ok;
  bool settled = false;  // the last pump ended with nothing in flight

  /// Moves bytes both ways, at most `chunk` bytes per feed(), until neither side has output.
  void pump(size_t chunk = 64 * 1024) {
    settled = false;
    for (int round = 0; round < kMaxRounds; ++round) {
      std::string to_server, to_client;
      client->takeOutput(to_server);
      server->takeOutput(to_client);
      if (to_server.empty() && to_client.empty()) {
        settled = true;
        return;
      }
      deliver(to_server, *server, server_received, server_status, chunk);
      deliver(to_client, *client, client_received, client_status, chunk);
    }
  }

  bool established() const {
    return settled && client_status == Status::Ok && server_status == Status::Ok &&
           client->handshakeDone() && server->handshakeDone();
  }

 private:
  static void note(Status& sticky, Status now) {
    if (sticky == Status::Failed || (sticky == Status::Closed && now == Status::Ok)) return;
    sticky = now;
  }
  static void deliver(const std::string& bytes, TlsSession& to, std::string& received,
                      Status& status, size_t chunk) {
    for (size_t at = 0; at < bytes.size() && status != Status::Failed; at += chunk) {
      note(status, to.feed(bytes.data() + at, std::min(chunk, bytes.size() - at)));
      note(status, to.read(received));
    }
  }
};

/// Starts a client for `name` against `server` and pumps until both sides are quiet.
inline Connection connect(const ServerTlsContext& server, const ClientTlsContext& client,
                          std::string_view name) {
  Connection c;
  c.client = TlsSession::client(client, name);
  c.server = TlsSession::server(server);
  if (!c.client || !c.server) {
    ADD_FAILURE() << "cannot create sessions";
    return c;
  }
  c.pump();
  return c;
}

struct RawClientOptions {
  int min_version = 0;  // 0: OpenSSL's lowest
  int max_version = 0;  // 0: highest
  const char* ciphers = "DEFAULT:@SECLEVEL=0";
  const char* sigalgs = nullptr;  // e.g. "RSA-PSS+SHA256"
  const char* sni = nullptr;
  bool request_ocsp = false;
};

/// A bare OpenSSL client over memory BIOs, no verification.
class RawTlsClient {
 public:
  explicit RawTlsClient(const RawClientOptions& o) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_security_level(ctx_, 0);
    SSL_CTX_set_min_proto_version(ctx_, o.min_version);
    SSL_CTX_set_max_proto_version(ctx_, o.max_version);
    SSL_CTX_set_cipher_list(ctx_, o.ciphers);
    if (o.sigalgs) SSL_CTX_set1_sigalgs_list(ctx_, o.sigalgs);
    ssl_ = SSL_new(ctx_);
    SSL_set_bio(ssl_, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    BIO_set_mem_eof_return(SSL_get_rbio(ssl_), -1);
    SSL_set_connect_state(ssl_);
    if (o.sni) SSL_set_tlsext_host_name(ssl_, o.sni);
    if (o.request_ocsp) SSL_set_tlsext_status_type(ssl_, TLSEXT_STATUSTYPE_ocsp);
  }
  ~RawTlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  RawTlsClient(const RawTlsClient&) = delete;
  RawTlsClient& operator=(const RawTlsClient&) = delete;

  /// Feeds the server's bytes (if any), steps the handshake, returns what to send back.
  std::string step(const std::string& from_server = {}) {
    if (!from_server.empty())
      BIO_write(SSL_get_rbio(ssl_), from_server.data(), int(from_server.size()));
    SSL_do_handshake(ssl_);
    ERR_clear_error();
    std::string out(BIO_ctrl_pending(SSL_get_wbio(ssl_)), '\0');
    if (!out.empty()) BIO_read(SSL_get_wbio(ssl_), out.data(), int(out.size()));
    return out;
  }

  bool handshakeDone() const { return SSL_is_init_finished(ssl_) == 1; }
  std::string peerSubject() const {
    X509* peer = SSL_get0_peer_certificate(ssl_);
    if (!peer) return {};
    char buf[256];
    X509_NAME_oneline(X509_get_subject_name(peer), buf, sizeof buf);
    return buf;
  }
  std::string ocspResponse() const {
    const unsigned char* p = nullptr;
    const long n = SSL_get_tlsext_status_ocsp_resp(ssl_, &p);
    return n > 0 && p ? std::string(reinterpret_cast<const char*>(p), size_t(n)) : std::string();
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

/// Runs a raw client's handshake against `server` (bounded); returns the server's last status.
inline Status rawHandshake(RawTlsClient& client, TlsSession& server) {
  Status status = Status::Ok;
  std::string to_server = client.step();
  for (int round = 0; round < 8 && !to_server.empty() && status != Status::Failed; ++round) {
    status = server.feed(to_server);
    std::string ignored;
    if (status != Status::Failed) status = server.read(ignored);
    std::string to_client;
    server.takeOutput(to_client);
    to_server = client.step(to_client);
  }
  return status;
}

}  // namespace weir::tls::testing
