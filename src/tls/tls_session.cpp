#include "tls/tls_session.h"

#include "tls/certificate_file.h"
#include "tls/client_tls_context.h"
#include "tls/server_tls_context.h"

namespace weir::tls {
namespace {

constexpr size_t kReadChunk = 16 * 1024;  // one TLS record's worth of plaintext

}  // namespace

std::unique_ptr<TlsSession> TlsSession::server(const ServerTlsContext& context) {
  SSL* ssl = SSL_new(context.sslContext());
  if (!ssl) {
    ERR_clear_error();
    return nullptr;
  }
  std::unique_ptr<TlsSession> s(new TlsSession(ssl, context.shared_from_this(), true));
  if (!s->network_in_) return nullptr;
  SSL_set_accept_state(ssl);
  return s;
}

std::unique_ptr<TlsSession> TlsSession::client(const ClientTlsContext& context,
                                               std::string_view server_name) {
  SSL* ssl = context.newSsl(server_name);
  if (!ssl) {
    ERR_clear_error();
    return nullptr;
  }
  std::unique_ptr<TlsSession> s(new TlsSession(ssl, context.shared_from_this(), false));
  if (!s->network_in_) return nullptr;
  SSL_set_connect_state(ssl);
  s->advance();  // writes the ClientHello
  return s;
}

TlsSession::TlsSession(SSL* ssl, std::shared_ptr<const void> context, bool is_server)
    : ssl_(ssl), context_(std::move(context)), is_server_(is_server) {
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (!in || !out) {
    BIO_free(in);
    BIO_free(out);
    ERR_clear_error();
    return;
  }
  BIO_set_mem_eof_return(in, -1);  // empty means "wait for more", not end of stream
  SSL_set_bio(ssl, in, out);
  network_in_ = in;
  network_out_ = out;
}

TlsSession::~TlsSession() {
  // OpenSSL retires the session of a connection freed without close_notify both ways (truncation
  // defence), which would make every dropped keep-alive connection cost a full handshake next
  // time. A session that did not fail keeps its resumability; failed ones were retired already.
  if (ssl_ && !failed_) SSL_set_shutdown(ssl_.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
}

TlsSession::Status TlsSession::feed(const char* data, size_t len) {
  if (failed_) return Status::Failed;
  size_t written = 0;
  if (len > 0 && BIO_write_ex(network_in_, data, len, &written) != 1) {
    return fail(SSL_ERROR_SSL);
  }
  const Status s = advance();
  return s == Status::Ok && closed_ ? Status::Closed : s;
}

TlsSession::Status TlsSession::advance() {
  if (failed_) return Status::Failed;
  if (!SSL_is_init_finished(ssl_.get())) {
    ERR_clear_error();
    const int rc = SSL_do_handshake(ssl_.get());
    if (rc != 1) {
      const int err = SSL_get_error(ssl_.get(), rc);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Status::Ok;
      return fail(err);
    }
  }
  established_ = true;
  flushHeld();
  return failed_ ? Status::Failed : Status::Ok;
}

TlsSession::Status TlsSession::read(std::string& out) {
  if (advance() == Status::Failed) return Status::Failed;
  if (!SSL_is_init_finished(ssl_.get())) return Status::Ok;
  while (!closed_) {
    const size_t had = out.size();
    out.resize(had + kReadChunk);
    size_t n = 0;
    ERR_clear_error();
    const int rc = SSL_read_ex(ssl_.get(), out.data() + had, kReadChunk, &n);
    out.resize(had + n);
    if (rc == 1) continue;
    const int err = SSL_get_error(ssl_.get(), rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
    if (err == SSL_ERROR_ZERO_RETURN) {
      closed_ = true;
      break;
    }
    return fail(err);
  }
  flushHeld();  // a post-handshake message may have unblocked held writes
  if (failed_) return Status::Failed;
  return closed_ ? Status::Closed : Status::Ok;
}

void TlsSession::write(std::string_view plain) {
  if (failed_ || shutdown_ || plain.empty()) return;
  if (held_.empty() && SSL_is_init_finished(ssl_.get())) {
    size_t n = 0;
    ERR_clear_error();
    const int rc = SSL_write_ex(ssl_.get(), plain.data(), plain.size(), &n);
    if (rc == 1) return;  // all of it: partial writes are off
    const int err = SSL_get_error(ssl_.get(), rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      fail(err);
      return;
    }
  }
  held_.append(plain);
}

void TlsSession::flushHeld() {
  if (held_.empty() || failed_ || !SSL_is_init_finished(ssl_.get())) return;
  size_t n = 0;
  ERR_clear_error();
  const int rc = SSL_write_ex(ssl_.get(), held_.data(), held_.size(), &n);
  if (rc == 1) {
    held_.clear();
    return;
  }
  const int err = SSL_get_error(ssl_.get(), rc);
  if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) fail(err);
}

void TlsSession::takeOutput(std::string& out) {
  const size_t pending = BIO_ctrl_pending(network_out_);
  if (pending == 0) return;
  const size_t had = out.size();
  out.resize(had + pending);
  size_t n = 0;
  if (BIO_read_ex(network_out_, out.data() + had, pending, &n) != 1) n = 0;
  out.resize(had + n);
}

size_t TlsSession::pendingOutputBytes() const { return BIO_ctrl_pending(network_out_); }

void TlsSession::shutdown() {
  if (shutdown_ || failed_) return;
  shutdown_ = true;
  if (!SSL_is_init_finished(ssl_.get())) return;  // nothing worth saying: just close
  flushHeld();
  held_.clear();
  ERR_clear_error();
  SSL_shutdown(ssl_.get());  // queues close_notify; we do not wait for the peer's
  ERR_clear_error();
}

// Not SSL_is_init_finished(): OpenSSL puts a connection back "in init" on any fatal error, which
// would make a failure after the handshake look like a handshake failure.
bool TlsSession::handshakeDone() const { return established_; }

TlsSession::Status TlsSession::fail(int ssl_error) {
  failed_ = true;
  const unsigned long first = ERR_peek_error();  // the earliest error is the cause
  std::string openssl_reason;
  if (first != 0) {
    const char* r = ERR_reason_error_string(first);
    openssl_reason = r ? r : "error " + std::to_string(first);
    reason_ = openssl_reason;
    // "certificate verify failed" alone does not say why; the verify result does ("unable to get
    // local issuer certificate", "hostname mismatch", "certificate has expired"). Only for that
    // error: with verification off the result is recorded too, but did not cause the failure.
    const long verify = SSL_get_verify_result(ssl_.get());
    if (ERR_GET_LIB(first) == ERR_LIB_SSL &&
        ERR_GET_REASON(first) == SSL_R_CERTIFICATE_VERIFY_FAILED && verify != X509_V_OK) {
      reason_ += ": ";
      reason_ += X509_verify_cert_error_string(verify);
    }
  } else if (ssl_error == SSL_ERROR_SYSCALL) {
    reason_ = "unexpected eof";
  } else {
    reason_ = "tls error";
  }
  kind_len_ = first != 0 ? openssl_reason.size() : reason_.size();
  std::string detail = handshakeDone() ? "TLS failed: " : "TLS handshake failed: ";
  detail += reason_;
  const std::string rest = takeOpenSslErrors();
  if (!rest.empty() && rest != openssl_reason) detail += " [" + rest + "]";
  error_ = Error{is_server_ ? ErrorCode::Io : ErrorCode::ConnectFailed,
                 is_server_ ? Side::Downstream : Side::Upstream, false, std::move(detail)};
  held_.clear();
  return Status::Failed;
}

std::string_view TlsSession::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &len);
  return data ? std::string_view(reinterpret_cast<const char*>(data), len) : std::string_view();
}

std::string_view TlsSession::sni() const {
  const char* name = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
  return name ? std::string_view(name) : std::string_view();
}

std::string TlsSession::version() const { return SSL_get_version(ssl_.get()); }

std::string_view TlsSession::cipher() const {
  const char* name = SSL_get_cipher_name(ssl_.get());
  return name ? std::string_view(name) : std::string_view();
}

bool TlsSession::resumed() const { return SSL_session_reused(ssl_.get()) == 1; }

std::string TlsSession::peerCertificateSubject() const {
  X509* peer = SSL_get0_peer_certificate(ssl_.get());
  return peer ? subjectText(peer) : std::string();
}

std::vector<std::string> TlsSession::peerCertificateNames() const {
  X509* peer = SSL_get0_peer_certificate(ssl_.get());
  return peer ? certificateNames(peer) : std::vector<std::string>();
}

}  // namespace weir::tls
