#include "admin/admin_session.h"

#include <uv.h>

#include <exception>
#include <nlohmann/json.hpp>

#include "core/ascii.h"
#include "core/log.h"
#include "http/http_date.h"
#include "http/proxy_headers.h"

namespace weir::admin {
namespace {

constexpr size_t kMaxPending = 64 * 1024;  // pipelined bytes held while a request is answered
constexpr std::chrono::milliseconds kFlushTimeout{30'000};  // last response still going out

std::string errorBody(const std::string& message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                 nlohmann::json::error_handler_t::replace) +
         "\n";
}

}  // namespace

bool StreamWriter::write(std::string_view chunk) const {
  AdminSession* s = session_ ? *session_ : nullptr;
  return s && s->streamWrite(chunk);
}

void StreamWriter::close() const {
  AdminSession* s = session_ ? *session_ : nullptr;
  if (s && s->phase_ == AdminSession::Phase::Streaming) s->linger();
}

bool StreamWriter::open() const {
  AdminSession* s = session_ ? *session_ : nullptr;
  return s && s->phase_ == AdminSession::Phase::Streaming;
}

AdminSession::AdminSession(net::EventLoop& loop, const AdminHandler& handler,
                           std::function<void(AdminSession*)> on_closed)
    : handler_(handler),
      on_closed_(std::move(on_closed)),
      stream_(loop, this),
      parser_(http::HttpParser::Mode::Request, this, http::ParseLimits{}),
      timer_(loop),
      self_(std::make_shared<AdminSession*>(this)) {}

AdminSession::~AdminSession() {
  *self_ = nullptr;
  stream_.close();
}

bool AdminSession::start(uv_stream_t* server) {
  if (stream_.accept(server) != 0) {
    close();
    return false;
  }
  client_ip_ = stream_.peerIp();
  stream_.setNoDelay(true);
  stream_.startRead();
  timer_.start(kIdleTimeout, [this] { onTimer(); });
  return true;
}

void AdminSession::close() {
  if (phase_ == Phase::Closed) return;
  phase_ = Phase::Closed;
  *self_ = nullptr;
  timer_.stop();
  stream_.close();
  if (auto done = std::move(on_closed_)) done(this);
}

// ---------------------------------------------------------------------------------------------
// Reading

void AdminSession::onRead(net::TcpStream&, const char* data, size_t len) {
  if (phase_ == Phase::Lingering || phase_ == Phase::Closed || phase_ == Phase::Streaming)
    return;  // discarded
  pending_.append(data, len);
  if (phase_ == Phase::Waiting) {
    if (pending_.size() > kMaxPending) stream_.stopRead();  // resumed with the next request
    return;
  }
  if (!request_timer_) {
    request_timer_ = true;
    timer_.start(kRequestTimeout, [this] { onTimer(); });
  }
  feed();
}

void AdminSession::onReadEnd(net::TcpStream&, int status) {
  if (phase_ == Phase::Waiting && status == UV_EOF) {
    peer_done_ = true;  // a half-close after a complete request: answer, then close
    return;
  }
  close();
}

void AdminSession::onWritten(net::TcpStream&, int status) {
  if (status < 0) {
    close();
    return;
  }
  if (phase_ == Phase::Lingering && stream_.queuedBytes() == 0)
    timer_.start(kLinger, [this] { onTimer(); });
}

bool AdminSession::onHead(http::HttpParser& p) {
  const http::MessageHead& h = p.head();
  body_.clear();
  if (h.content_length && *h.content_length > kMaxBodyBytes) {
    p.fail(413, "request body larger than 1 MiB");
    return false;
  }
  if (const std::string* expect = h.find("expect")) {
    if (!iequals(*expect, "100-continue")) {
      p.fail(417, "unsupported Expect");
      return false;
    }
    const bool body = h.chunked || (h.content_length && *h.content_length > 0);
    if (body && !h.isHttp10()) stream_.write(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
  }
  return true;
}

void AdminSession::onBody(http::HttpParser& p, const char* data, size_t len) {
  if (body_.size() + len > kMaxBodyBytes) {
    p.fail(413, "request body larger than 1 MiB");
    return;
  }
  body_.append(data, len);
}

void AdminSession::onMessageComplete(http::HttpParser&) {}

// Parses what was received while the session is free to answer; one request at a time.
void AdminSession::feed() {
  if (in_feed_) return;
  in_feed_ = true;
  while (phase_ == Phase::Reading && !pending_.empty()) {
    std::string work;
    work.swap(pending_);
    auto out = parser_.execute(work.data(), work.size());
    if (out.status == http::HttpParser::Status::NeedMore) break;
    if (out.status == http::HttpParser::Status::Error) {
      sendError(parser_.errorStatus(), parser_.errorReason());
      break;
    }
    pending_.assign(work, out.consumed, std::string::npos);
    dispatch(out.status == http::HttpParser::Status::Upgrade);
  }
  in_feed_ = false;
  if (phase_ == Phase::Reading && peer_done_) close();  // nothing more will come
}

void AdminSession::dispatch(bool upgrade) {
  phase_ = Phase::Waiting;
  request_timer_ = false;
  timer_.start(kAnswerTimeout, [this] { onTimer(); });
  const http::MessageHead& h = parser_.head();
  keep_alive_ = h.keep_alive && !upgrade;  // no protocol switch here: answer, then close
  http10_ = h.isHttp10();
  method_ = h.method;
  target_ = h.target;
  AdminRequest request{h, std::move(body_), client_ip_};
  body_.clear();
  const uint64_t seq = ++seq_;
  Reply reply = [token = self_, seq](AdminResponse response) {
    if (AdminSession* self = *token) self->onReply(seq, std::move(response));
  };
  try {
    handler_(std::move(request), std::move(reply));
  } catch (const std::exception& e) {
    log::error("admin: ", method_, " ", target_, ": ", e.what());
    if (phase_ == Phase::Waiting && seq_ == seq) {
      AdminResponse r;
      r.status = 500;
      r.body = errorBody(std::string("internal error: ") + e.what());
      send(r);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

void AdminSession::onReply(uint64_t seq, AdminResponse response) {
  if (phase_ != Phase::Waiting || seq != seq_) return;  // answered already
  send(response);
}

void AdminSession::sendError(int status, const std::string& message) {
  keep_alive_ = false;
  if (!parser_.headComplete()) {
    method_.clear();
    target_.clear();
    http10_ = false;
  } else {
    method_ = parser_.head().method;
    target_ = parser_.head().target;
    http10_ = parser_.head().isHttp10();
  }
  AdminResponse r;
  r.status = status;
  r.body = errorBody(message);
  send(r);
}

void AdminSession::send(const AdminResponse& response) {
  const bool streaming = response.on_stream && method_ != "HEAD";
  const bool keep = keep_alive_ && !(peer_done_ && pending_.empty()) && !streaming;
  std::string out;
  out.reserve(256 + response.body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(response.status);
  out += ' ';
  out += http::reasonPhrase(response.status);
  out += "\r\nDate: ";
  out += http::httpDate();
  out += "\r\nContent-Type: ";
  out += response.content_type;
  if (!streaming) {
    out += "\r\nContent-Length: ";
    out += std::to_string(response.body.size());
  }
  out += "\r\nCache-Control: no-store\r\n";
  for (const auto& f : response.headers) {
    out += f.name;
    out += ": ";
    out += f.value;
    out += "\r\n";
  }
  if (!keep) {
    out += "Connection: close\r\n";
  } else if (http10_) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  if (method_ != "HEAD") out += response.body;
  log::debug("admin: ", client_ip_, " \"", method_.empty() ? "-" : method_, " ",
             target_.empty() ? "-" : target_, "\" ", response.status);
  if (!stream_.write(std::move(out))) {
    close();
    return;
  }
  if (streaming) {
    // Until the handler closes the stream or the client goes: no timer, input discarded (its
    // EOF or an error closes the session).
    phase_ = Phase::Streaming;
    timer_.stop();
    pending_.clear();
    stream_.startRead();
    response.on_stream(StreamWriter(self_));
    return;
  }
  if (!keep) {
    linger();
    return;
  }
  phase_ = Phase::Reading;
  parser_.resume();
  stream_.startRead();  // it may have paused while the request was answered
  request_timer_ = !pending_.empty();
  timer_.start(request_timer_ ? kRequestTimeout : kIdleTimeout, [this] { onTimer(); });
  feed();
}

bool AdminSession::streamWrite(std::string_view chunk) {
  if (phase_ != Phase::Streaming) return false;
  if (stream_.queuedBytes() > kMaxStreamQueueBytes) {
    log::warn("admin: ", client_ip_, " reads ", target_, " too slowly: closing");
    close();
    return false;
  }
  if (!stream_.write(chunk)) {
    close();
    return false;
  }
  return true;
}

// After the last response: stop sending, read and discard what the client still sends (so
// that closing does not reset the connection before it read the response), then close.
void AdminSession::linger() {
  phase_ = Phase::Lingering;
  pending_.clear();
  stream_.shutdownWrite();
  stream_.startRead();
  timer_.start(stream_.queuedBytes() == 0 ? kLinger : kFlushTimeout, [this] { onTimer(); });
}

void AdminSession::onTimer() {
  switch (phase_) {
    case Phase::Reading:
      if (request_timer_ && (parser_.inMessage() || !pending_.empty())) {
        sendError(408, "request not received in time");
      } else {
        close();  // idle keep-alive connection
      }
      break;
    case Phase::Lingering:
      close();
      break;
    case Phase::Streaming:  // no timer runs while streaming
      break;
    case Phase::Waiting:  // the answer never came (workers gone while shutting down)
      sendError(503, "no answer in time");
      break;
    case Phase::Closed:
      break;
  }
}

}  // namespace weir::admin
