// TlsSession: one TLS connection as a byte transform — an SSL over a pair of memory BIOs, with no
// I/O of its own. Owned by the connection it serves, used on that connection's worker thread only.
// Keeps its context alive (a reload may drop the context while the connection lives on).
//
// Call sequence (the handshake progresses as bytes arrive; nothing ever blocks):
//   start (client)   -> takeOutput -> send                       (the ClientHello is ready at once)
//   on network read  -> feed(bytes) -> read(plain) -> takeOutput -> send
//                       (read drains every decryptable byte; takeOutput carries handshake messages,
//                        alerts and tickets, so send it even when no app data was written)
//   on app write     -> write(plain) -> takeOutput -> send
//                       (writes before handshakeDone() are held and sent once it completes)
//   on Failed        -> takeOutput -> send (the alert, best effort) -> close; failureReason() for
//                       a short log line, error() for the full detail
//   on Closed (peer close_notify) or to close -> shutdown() -> takeOutput -> send -> close
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "tls/openssl_ptr.h"

namespace weir::tls {

class ServerTlsContext;
class ClientTlsContext;

class TlsSession {
 public:
  enum class Status : uint8_t {
    Ok,      // progressing, or waiting for more bytes
    Closed,  // the peer sent close_notify: no more application data will come
    Failed,  // fatal: see failureReason() / error(); the session is unusable
  };

  /// Null only when OpenSSL cannot allocate.
  static std::unique_ptr<TlsSession> server(const ServerTlsContext& context);
  /// `server_name` (empty: the context's server_name) is sent as SNI, verified against the
  /// certificate, and keys session resumption. Null when OpenSSL cannot allocate or the name is
  /// unusable (over 255 bytes).
  static std::unique_ptr<TlsSession> client(const ClientTlsContext& context,
                                            std::string_view server_name = {});
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  /// Network bytes in. Advances the handshake; decrypted data waits for read().
  Status feed(const char* data, size_t len);
  Status feed(std::string_view bytes) { return feed(bytes.data(), bytes.size()); }
  /// Appends all application data decryptable from what was fed to `out`.
  Status read(std::string& out);
  /// Application data to encrypt; dropped once the session failed or was shut down.
  void write(std::string_view plain);
  /// Appends the encrypted bytes to send to `out` (and forgets them).
  void takeOutput(std::string& out);
  /// Encrypted bytes waiting for takeOutput(); count them with the socket's write queue against
  /// the backpressure watermarks.
  size_t pendingOutputBytes() const;
  /// Plaintext accepted by write() but not encrypted yet (held until the handshake completes);
  /// count it too, or a peer slow to finish its handshake lets the writer buffer without bound.
  size_t heldBytes() const { return held_.size(); }
  /// Everything this session buffers toward the peer: heldBytes() + pendingOutputBytes().
  size_t bufferedBytes() const { return heldBytes() + pendingOutputBytes(); }
  /// Queues close_notify after any held writes; further writes are dropped. Before the handshake
  /// has completed there is nothing worth sending: the caller just closes.
  void shutdown();

  /// The handshake completed; stays true when the session fails afterwards (data may have
  /// flowed), false when it failed during the handshake.
  bool handshakeDone() const;
  bool failed() const { return failed_; }
  /// A short, stable reason for the log line: "no shared cipher", "unsupported protocol",
  /// "peer did not return a certificate", "tlsv1 alert unknown ca", "http request" (plain HTTP
  /// sent to a TLS port) ... A failed verification of the peer's certificate says why:
  /// "certificate verify failed: unable to get local issuer certificate" (or "hostname
  /// mismatch", "certificate has expired" ...). Empty unless failed().
  std::string_view failureReason() const { return reason_; }
  /// The reason without the verify result: a short, bounded set, for counting by reason.
  std::string failureKind() const { return reason_.substr(0, kind_len_); }
  /// Side: Downstream for server sessions, Upstream for client ones; detail says what failed.
  const Error& error() const { return error_; }

  std::string_view alpn() const;  // negotiated protocol; empty: none
  std::string_view sni() const;   // server: name the client asked for; client: name sent
  std::string version() const;    // "TLSv1.3", "TLSv1.2"
  std::string_view cipher() const;
  bool resumed() const;
  /// Peer certificate subject, RFC 2253 ("CN=client,O=acme"); empty without a certificate.
  std::string peerCertificateSubject() const;
  /// Peer certificate DNS names (subjectAltName, else CN); empty without a certificate.
  std::vector<std::string> peerCertificateNames() const;

 private:
  TlsSession(SSL* ssl, std::shared_ptr<const void> context, bool is_server);
  Status advance();  // drives the handshake, then flushes held writes
  void flushHeld();
  Status fail(int ssl_error);

  SslPtr ssl_;
  BIO* network_in_ = nullptr;   // owned by ssl_
  BIO* network_out_ = nullptr;  // owned by ssl_
  std::shared_ptr<const void> context_;
  bool is_server_;
  bool failed_ = false;
  bool closed_ = false;       // peer close_notify seen
  bool shutdown_ = false;     // ours queued or pending
  bool established_ = false;  // the handshake completed (whatever happened since)
  std::string held_;          // plaintext written before the handshake completed
  std::string reason_;
  size_t kind_len_ = 0;  // reason_'s prefix before the verify result
  Error error_;
};

}  // namespace weir::tls
