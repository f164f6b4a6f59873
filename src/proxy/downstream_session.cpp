#include "proxy/downstream_session.h"

#include <uv.h>

#include "core/ascii.h"
#include "core/log.h"
#include "health/retry_policy.h"
#include "http/http_date.h"
#include "proxy/downstream_session_exchange.h"
#include "routing/request_view.h"
#include "routing/route_actions.h"

namespace weir::proxy {
namespace {

using std::chrono::milliseconds;

constexpr size_t kHighWater = 256 * 1024;   // pause the reading side above this backlog
constexpr size_t kLowWater = 64 * 1024;     // resume below this
constexpr size_t kMaxPending = 64 * 1024;   // pipelined bytes held before reading pauses
constexpr size_t kMaxReplay = 64 * 1024;    // request bytes kept to retry on a stale connection
constexpr milliseconds kLinger{2000};       // lingering close: read and discard this long
constexpr milliseconds kCompactAfter{250};  // idle this long: give back buffers
constexpr size_t kPooledExchanges = 256;    // Exchanges kept per worker for reuse

// weir's answer, as the final recipient, to an OPTIONS or TRACE with Max-Forwards 0 (RFC 9110
// 7.6.2): OPTIONS gets the route's methods in Allow (all weir forwards when the route takes any),
// TRACE the request echoed back (RFC 9110 9.3.8).
config::Respond lastHopAnswer(const http::MessageHead& h, const config::Route& route) {
  config::Respond answer;
  if (h.method == "TRACE") {
    answer.body = http::traceEcho(h);
    answer.headers.push_back({"Content-Type", "message/http"});
    return answer;
  }
  std::string allow;
  for (const auto& m : route.match.methods) allow.append(allow.empty() ? "" : ", ").append(m);
  answer.headers.push_back(
      {"Allow", allow.empty() ? "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH" : allow});
  return answer;
}

/// The request's header fields as the route table reads them.
class MessageHeaders final : public routing::HeaderLookup {
 public:
  explicit MessageHeaders(const http::MessageHead& head) : head_(head) {}
  const std::string* find(std::string_view name) const override { return head_.find(name); }

 private:
  const http::MessageHead& head_;
};

}  // namespace

DownstreamSession::DownstreamSession(WorkerContext& ctx, size_t listener_index)
    : ctx_(ctx),
      origin_(ctx.snapshot()),
      origin_listener_(listener_index),
      listener_name_(origin_->listeners[listener_index].config->name),
      client_(ctx.loop(), this),
      client_timer_(ctx.loop()) {}

// A connection that closes after its exchange (Connection: close) gives the Exchange back too,
// here at a safe point rather than in closeNow(), which may run inside the parser's callbacks.
// Not once shutdown began: the pool is freed while the loop still runs.
DownstreamSession::~DownstreamSession() {
  client_.close();
  if (!ex_) return;
  if (ex_->upstream) {
    ex_->upstream->stream.close();
  } else if (!ctx_.draining()) {
    resetExchange();
    poolExchange();
  }
}

// Exchanges given back by this worker thread's idle connections, for its next requests: no
// allocation per request, and an idle connection holds none. Freed by freePooledExchanges().
thread_local std::vector<std::unique_ptr<DownstreamSession::Exchange>> DownstreamSession::pool_;

void DownstreamSession::acquireExchange() const {
  const auto& limits = ctx_.snapshot()->config->limits;
  auto* self = const_cast<DownstreamSession*>(this);
  if (pool_.empty()) {
    ex_ = std::make_unique<Exchange>(*self, ctx_.loop(), limits);
    return;
  }
  ex_ = std::move(pool_.back());
  pool_.pop_back();
  ex_->request_parser.setSink(self);
  ex_->request_parser.setLimits(http::ParseLimits{limits.max_header_bytes, limits.max_uri_bytes});
  ex_->request_parser.reset();
}

// Between requests, outside any callback of the parser, with nothing read ahead and no upstream
// connection: the Exchange goes back to the pool.
void DownstreamSession::releaseExchange() {
  if (!ex_ || phase_ != Phase::WaitRequest || head_started_ || in_feed_ || request_paused_ ||
      !pending_.empty() || ex_->upstream) {
    return;
  }
  poolExchange();  // the rest was reset when the last exchange ended
}

void DownstreamSession::poolExchange() {
  ex_->upstream_timer.clear();
  if (pool_.size() < kPooledExchanges) pool_.push_back(std::move(ex_));
  ex_.reset();
}

void DownstreamSession::freePooledExchanges() { pool_.clear(); }

bool DownstreamSession::upstreamOpen() const {
  return ex_ && ex_->upstream && !ex_->upstream_connecting;
}

bool DownstreamSession::start(uv_stream_t* server) {
  if (client_.accept(server) != 0) {
    closeNow();
    return false;
  }
  if (const auto& ctx = origin_->listeners[origin_listener_].tls)
    tls_ = tls::TlsSession::server(*ctx);
  client_ip_ = client_.peerIp();
  if (ListenerStats* ls = ctx_.listenerStats(listener_name_)) ++ls->connections;
  client_.startRead();  // TCP_NODELAY is inherited from the listening socket
  const auto& timeouts = ctx_.snapshot()->config->timeouts;
  client_timer_.start(timeouts.client_header, [this] { onHeaderTimeout(); });
  return true;
}

void DownstreamSession::drain() {
  if (phase_ == Phase::WaitRequest && !head_started_ && pending_.empty()) {
    closeNow();
    return;
  }
  ex().client_keep_alive = false;
}

// ---------------------------------------------------------------------------------------------
// Event dispatch

void DownstreamSession::onRead(net::TcpStream& s, const char* data, size_t len) {
  if (&s == &client_) {
    if (tls_) {
      onClientTls(data, len);
    } else {
      onClientRead(data, len);
    }
  } else if (ex().upstream && ex().upstream->tls) {
    onUpstreamTls(data, len);
  } else {
    onUpstreamRead(data, len);
  }
  flushUpstream();
  flushClient();
  updateFlow();
  releaseExchange();
}

// TLS from the client: decrypt, hand the plaintext on, send what the TLS engine has to say
// (handshake, tickets, alerts) whatever the application wrote.
void DownstreamSession::onClientTls(const char* data, size_t len) {
  ctx_.totals().traffic.bytes_in += len;
  const auto fed = tls_->feed(data, len);
  std::string plain;
  const auto read = fed == tls::TlsSession::Status::Failed ? fed : tls_->read(plain);
  sendTlsOutput();
  if (read == tls::TlsSession::Status::Failed) {
    if (!tls_->handshakeDone()) ++ctx_.totals().tls_handshake_failures[tls_->failureKind()];
    log::info("client ", client_ip_, ": TLS: ", tls_->failureReason());
    closeNow();
    return;
  }
  if (!plain.empty()) onClientRead(plain.data(), plain.size());
  if (read == tls::TlsSession::Status::Closed && phase_ != Phase::Closed) onClientEnd(UV_EOF);
}

void DownstreamSession::sendTlsOutput() {
  std::string out;
  tls_->takeOutput(out);
  if (!out.empty()) client_.write(std::move(out));
}

void DownstreamSession::onReadEnd(net::TcpStream& s, int status) {
  if (&s == &client_) {
    onClientEnd(status);
  } else {
    onUpstreamEnd(status);
  }
  flushUpstream();
  flushClient();
  updateFlow();
  releaseExchange();
}

void DownstreamSession::onWritten(net::TcpStream& s, int status) {
  if (status < 0) {
    if (&s == &client_) {
      closeNow();
    } else {
      onUpstreamEnd(status);
      flushClient();
    }
    return;
  }
  if (&s == &client_) {
    if (client_.queuedBytes() == 0) {
      if (phase_ == Phase::Closing) startLinger();
      if (phase_ == Phase::WaitRequest && !client_timer_.active()) armIdleTimer();
    }
  } else if (phase_ == Phase::Exchange || phase_ == Phase::Tunnel) {
    ex().upstream_timer.restart(attemptTimeout());
  }
  updateFlow();
  releaseExchange();
}

void DownstreamSession::onConnected(net::TcpStream&, int status) {
  onUpstreamConnected(status);
  flushUpstream();
  flushClient();
  updateFlow();
  releaseExchange();
}

bool DownstreamSession::onHead(http::HttpParser& p) {
  return &p == &ex().request_parser ? onRequestHead(p) : onResponseHead(p);
}

void DownstreamSession::onBody(http::HttpParser& p, const char* data, size_t len) {
  if (&p == &ex().request_parser) {
    onRequestBody(data, len);
  } else {
    onResponseBody(data, len);
  }
}

void DownstreamSession::onMessageComplete(http::HttpParser& p) {
  if (&p == &ex().request_parser) {
    if (ex().request_framing == http::Framing::Chunked && !ex().discard_body && ex().cluster) {
      ex().upstream_out.append(http::kLastChunk);
      if (ex().replayable) ex().replay_body.append(http::kLastChunk);
    }
    return;  // the rest happens in parseClientBytes, outside the parser
  }
  if (ex().informational || ex().tunnel) return;
  if (ex().response_framing == http::Framing::Chunked) client_out_.append(http::kLastChunk);
  ex().response_done = true;
}

// ---------------------------------------------------------------------------------------------
// Client side

void DownstreamSession::onClientRead(const char* data, size_t len) {
  ctx_.totals().traffic.bytes_in += len;
  switch (phase_) {
    case Phase::Closed:
    case Phase::Closing:
      return;  // lingering close: discard
    case Phase::Tunnel:
      writeUpstream(std::string_view(data, len));
      ex().upstream_timer.restart(attemptTimeout());
      return;
    default:
      break;
  }
  if (phase_ == Phase::WaitRequest && !head_started_) {
    head_started_ = true;
    client_timer_.start(ex().snapshot ? ex().snapshot->config->timeouts.client_header
                                      : ctx_.snapshot()->config->timeouts.client_header,
                        [this] { onHeaderTimeout(); });
  }
  if (!pending_.empty() || request_paused_ || in_feed_) {
    pending_.append(data, len);
    drainPending();
    return;
  }
  in_feed_ = true;
  size_t used = parseClientBytes(data, len);
  in_feed_ = false;
  if (phase_ != Phase::Closed && phase_ != Phase::Closing && used < len)
    pending_.append(data + used, len - used);
  drainPending();
}

void DownstreamSession::drainPending() {
  if (in_feed_) return;
  in_feed_ = true;
  while (!pending_.empty() && !request_paused_ &&
         (phase_ == Phase::WaitRequest || phase_ == Phase::Exchange)) {
    std::string work;
    work.swap(pending_);
    size_t used = parseClientBytes(work.data(), work.size());
    if (phase_ == Phase::Closed || phase_ == Phase::Closing) break;
    if (used < work.size()) pending_.assign(work, used, std::string::npos);
  }
  in_feed_ = false;
  if (phase_ == Phase::Tunnel && !pending_.empty() && ex().upstream) {
    writeUpstream(std::string_view(pending_));
    pending_.clear();
  }
}

size_t DownstreamSession::parseClientBytes(const char* data, size_t len) {
  auto out = ex().request_parser.execute(data, len);
  switch (out.status) {
    case http::HttpParser::Status::NeedMore:
      client_.quickAck();  // the rest of the request is awaited: acknowledge what came now
      return len;
    case http::HttpParser::Status::MessageComplete:
      request_paused_ = true;
      onRequestDone();
      return out.consumed;
    case http::HttpParser::Status::Upgrade:
      request_paused_ = true;
      upgrade_paused_ = true;
      onRequestDone();
      return out.consumed;
    case http::HttpParser::Status::Error:
      onRequestError();
      return len;
  }
  return len;
}

bool DownstreamSession::onRequestHead(http::HttpParser& p) {
  const http::MessageHead& h = p.head();
  resetExchange();
  phase_ = Phase::Exchange;
  ex().head_seen = true;
  ex().snapshot = ctx_.snapshot();
  auto listener = ex().snapshot->findListener(listener_name_);
  if (!listener) {  // the listener was removed by a reload: stay on the config it came with
    ex().snapshot = origin_;
    listener = origin_listener_;
  }
  const config::Config& cfg = *ex().snapshot->config;
  ex().start_ns = uv_hrtime();
  ex().client_http10 = h.isHttp10();
  ex().client_keep_alive = h.keep_alive && !ctx_.draining();
  ex().client_asked_close = !h.keep_alive;
  ex().head_request = h.method == "HEAD";
  ex().idempotent = health::isIdempotent(h.method);
  if (const std::string* id = h.find("x-request-id")) {
    ex().request_id = *id;
  } else {
    char fresh[32];
    ctx_.requestIds().next(fresh);
    ex().request_id.assign(fresh, sizeof fresh);
  }
  const bool has_body = h.chunked || h.content_length.value_or(0) > 0;
  if (has_body) {
    client_timer_.start(cfg.timeouts.client_body, [this] { onBodyTimeout(); });
  } else {
    client_timer_.stop();
  }
  if (h.content_length && *h.content_length > cfg.limits.max_body_bytes) {
    ex().request_parser.fail(413, "request body larger than max_body_bytes");
    return false;
  }
  if (origin_->listeners[origin_listener_].config->https_redirect && !tls_) {
    const std::string* hh = h.find("host");
    std::string location =
        "https://" + std::string(hh ? routing::hostOf(*hh) : "localhost") + h.target;
    localReply(301, "", nullptr, false, location);
    return true;
  }
  if (h.method == "CONNECT") {
    localReply(405, "method not allowed\n", nullptr, true);
    return true;
  }

  // Request target: origin-form, or absolute-form whose authority replaces Host (the parser
  // has checked that authority as it checks Host).
  const http::TargetParts form = http::splitTarget(h.target);
  std::string_view target = form.origin;
  const std::string_view host = form.authority;
  const bool asterisk = target == "*" && h.method == "OPTIONS";  // routed by the path "*"
  if (!form.absolute && !asterisk && (target.empty() || target.front() != '/')) {
    ex().request_parser.fail(400, "invalid request target");
    return false;
  }
  std::string_view route_host = host;
  if (route_host.empty()) {
    if (const std::string* hh = h.find(http::HeaderId::Host)) route_host = *hh;
  }
  const size_t qmark = target.find('?');
  std::string_view path = target.substr(0, qmark);
  std::string_view query =
      qmark == std::string_view::npos ? std::string_view() : target.substr(qmark + 1);

  const ListenerView& lv = ex().snapshot->listeners[*listener];
  const MessageHeaders headers(h);
  const routing::RequestView view{h.method, route_host, path, query, &headers};
  auto index = lv.routes.match(view);
  ex().route_index = index;
  if (!index) {
    log::info("client ", client_ip_, ": 404: no route for ", route_host, path);
    countFailure(FailureReason::NoRoute);
    localReply(404, "no route\n", nullptr, false);
    return true;
  }
  const config::Route& route = lv.config->routes[*index];
  if (route.respond) {
    localReply(route.respond->status, route.respond->body, &*route.respond, false);
    return true;
  }
  if (route.redirect) {
    routing::RedirectParts parts;
    parts.scheme = tls_ ? "https" : "http";
    // {host} is the name without the port; an IPv6 literal keeps its brackets (RFC 3986).
    std::string bracketed;
    parts.host = routing::hostOf(route_host);
    if (parts.host.find(':') != std::string_view::npos) {
      bracketed = "[" + std::string(parts.host) + "]";
      parts.host = bracketed;
    }
    parts.uri = target;
    parts.path = path;
    parts.query = query;
    const std::string location = routing::expandRedirect(route.redirect->location, parts);
    localReply(route.redirect->status, "", nullptr, false, location);
    return true;
  }
  const RouteView& rv = lv.route_views[*index];
  if (!rv.upstream) {
    localReply(500, "route has no action\n", nullptr, false);
    return true;
  }
  // RFC 9110 7.6.2: an OPTIONS or TRACE with no hops left is answered here, as its final
  // recipient; with hops left it goes on with one fewer (writeUpstreamRequest).
  if (const auto hops = http::maxForwards(h); hops && *hops == 0) {
    const config::Respond last = lastHopAnswer(h, route);
    localReply(last.status, last.body, &last, false);
    return true;
  }
  ex().cluster = ctx_.cluster(*ex().snapshot, *rv.upstream);
  if (!ex().cluster) {
    localReply(503, "upstream removed\n", nullptr, false);
    return true;
  }
  ex().route = &route;
  ex().route_view = &rv;
  ex().upstream_timeouts = route.timeouts.value_or(ex().cluster->config().timeouts);
  if (route.strip_prefix || route.add_prefix || route.rewrite) {
    ex().rewritten_target = lv.routes.rewritePath(*index, path);
    if (qmark != std::string_view::npos) ex().rewritten_target.append(target.substr(qmark));
    target = ex().rewritten_target;
  }
  startProxy(h, target, host);
  return true;
}

void DownstreamSession::onRequestBody(const char* data, size_t len) {
  ex().request_body_bytes += len;
  if (ex().request_body_bytes > ex().snapshot->config->limits.max_body_bytes) {
    ex().request_parser.fail(413, "request body larger than max_body_bytes");
    return;
  }
  if (!ex().request_done && client_timer_.active())
    client_timer_.restart(ex().snapshot->config->timeouts.client_body);
  if (ex().discard_body || !ex().cluster) return;
  size_t before = ex().upstream_out.size();
  if (ex().request_framing == http::Framing::Chunked) {
    http::appendChunk(ex().upstream_out, data, len);
  } else {
    ex().upstream_out.append(data, len);
  }
  if (ex().replayable) {
    size_t added = ex().upstream_out.size() - before;
    const config::Retries* rc = retryConfig();
    const uint64_t limit = rc ? rc->max_retry_body : kMaxReplay;
    if (ex().replay_body.size() + added > limit) {
      ex().replayable = false;
      ex().replay_body.clear();
    } else {
      ex().replay_body.append(ex().upstream_out, before, added);
    }
  }
  if (upstreamOpen()) ex().upstream_timer.restart(attemptTimeout());
}

void DownstreamSession::onRequestDone() {
  ex().request_done = true;
  client_timer_.stop();
  if (ex().response_done) endExchange();
}

void DownstreamSession::onRequestError() {
  const int status = ex().request_parser.errorStatus();
  const std::string& reason = ex().request_parser.errorReason();
  countFailure(status == 413   ? FailureReason::BodyTooLarge
               : status == 414 ? FailureReason::UriTooLong
               : status == 431 ? FailureReason::HeaderTooLarge
                               : FailureReason::BadRequest);
  log::warn("client ", client_ip_, ": ", status, ": ", reason);
  if (phase_ == Phase::Exchange && ex().response_started) {
    closeNow();  // the response is under way: it cannot be replaced by an error
    return;
  }
  retireUpstream();
  if (phase_ != Phase::Exchange) {
    resetExchange();
    phase_ = Phase::Exchange;
    ex().start_ns = uv_hrtime();
    ex().head_seen = true;
  }
  std::string body(http::reasonPhrase(status));
  body += '\n';
  localReply(status, body, nullptr, true);
  endExchange();
}

void DownstreamSession::onClientEnd(int status) {
  client_eof_ = true;
  if (phase_ == Phase::Tunnel) {
    if (status != UV_EOF || ex().upstream_eof || !ex().upstream) {
      closeNow();
    } else {
      ex().upstream->stream.shutdownWrite();
    }
    return;
  }
  if (phase_ == Phase::Exchange && ex().request_done && !ex().response_done && status == UV_EOF) {
    ex().client_keep_alive = false;  // half-close after a complete request: answer, then close
    return;
  }
  if (phase_ == Phase::Exchange && !ex().response_done) {
    log::info("client ", client_ip_, " closed the connection before the response was complete");
    if (!ex().response_started) ex().status = 499;
    countFailure(FailureReason::ClientClosed);
  }
  closeNow();
}

void DownstreamSession::onHeaderTimeout() {
  if (phase_ != Phase::WaitRequest) return;
  if (!head_started_) {
    closeNow();  // idle keep-alive connection, or nothing ever sent: close quietly
    return;
  }
  log::info("client ", client_ip_, ": 408: request head not received in time");
  countFailure(FailureReason::ClientTimeout);
  resetExchange();
  phase_ = Phase::Exchange;
  ex().head_seen = true;
  ex().start_ns = uv_hrtime();
  localReply(408, "request timeout\n", nullptr, true);
  endExchange();
  flushClient();
}

void DownstreamSession::onBodyTimeout() {
  if (phase_ != Phase::Exchange || ex().request_done) return;
  log::info("client ", client_ip_, ": 408: request body not received in time");
  countFailure(FailureReason::ClientTimeout);
  if (ex().response_started) {
    closeNow();
    return;
  }
  retireUpstream();
  localReply(408, "request timeout\n", nullptr, true);
  endExchange();
  flushClient();
}

// ---------------------------------------------------------------------------------------------
// Upstream side

// ---------------------------------------------------------------------------------------------
// Both sides

void DownstreamSession::localReply(int status, std::string_view body,
                                   const config::Respond* respond, bool close,
                                   std::string_view location) {
  ex().status = status;
  ex().response_started = true;
  ex().response_done = true;
  ex().discard_body = true;
  if (close) ex().client_keep_alive = false;
  if (ctx_.draining()) ex().client_keep_alive = false;
  std::string& out = client_out_;
  out.append("HTTP/1.1 ");  // to HTTP/1.0 clients too (RFC 9110 2.5), as writeClientResponse
  out.append(std::to_string(status));
  out.push_back(' ');
  out.append(http::reasonPhrase(status));
  out.append("\r\nDate: ").append(http::httpDate()).append("\r\n");
  if (!location.empty()) out.append("Location: ").append(location).append("\r\n");
  if (ex().retry_after_s > 0) {
    out.append("Retry-After: ").append(std::to_string(ex().retry_after_s)).append("\r\n");
    ex().retry_after_s = 0;
  }
  bool has_type = false;
  if (respond) {
    for (const auto& hd : respond->headers) {
      if (iequals(hd.name, "content-type")) has_type = true;
      out.append(hd.name).append(": ").append(hd.value).append("\r\n");
    }
  }
  if (!has_type && !body.empty()) out.append("Content-Type: text/plain\r\n");
  const bool no_body = status == 204 || status == 304 || status < 200;
  if (!no_body) out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  if (!ex().client_keep_alive) {
    out.append("Connection: close\r\n");
  } else if (ex().client_http10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
  if (!ex().head_request && !no_body) {
    out.append(body);
    ex().response_body_bytes = body.size();
  }
  if (ex().request_done) endExchange();
}

void DownstreamSession::endExchange() {
  if (phase_ != Phase::Exchange) return;
  logExchange();
  retireUpstream();
  ex().upstream_timer.stop();
  const bool keep =
      ex().client_keep_alive && !upgrade_paused_ && !ctx_.draining() && ex().request_done;
  // The client asked to close and sent nothing more: it will send nothing more (RFC 9112 9.6).
  const bool client_finished = ex().request_done && ex().client_asked_close && pending_.empty();
  resetExchange();
  if (!keep) {
    closeAfterFlush(client_finished);
    return;
  }
  phase_ = Phase::WaitRequest;
  request_paused_ = false;
  ex().request_parser.resume();
  head_started_ = !pending_.empty();
  armIdleTimer();
  drainPending();
}

// Between requests: the next head must arrive within client_header once it has begun; before
// that the connection may idle for `keepalive`, counted from when the last response was sent.
void DownstreamSession::armIdleTimer() {
  const auto& timeouts = ctx_.snapshot()->config->timeouts;
  if (head_started_) {
    client_timer_.start(timeouts.client_header, [this] { onHeaderTimeout(); });
  } else if (client_.queuedBytes() == 0) {
    // An idle connection first gives back its buffers (after a short while, so a busy
    // keep-alive client does not pay for it), then waits out the rest of `keepalive`.
    const auto keepalive = timeouts.keepalive;
    const auto first = std::min(keepalive, kCompactAfter);
    client_timer_.start(first, [this, rest = keepalive - first] {
      if (phase_ != Phase::WaitRequest || head_started_) return;
      compact();
      if (rest.count() <= 0) {
        onHeaderTimeout();
      } else {
        client_timer_.start(rest, [this] { onHeaderTimeout(); });
      }
    });
  } else {
    client_timer_.stop();  // armed by onWritten once the response is out
  }
}

// Gives back what an idle connection still holds: buffer capacity from the last exchange.
void DownstreamSession::compact() {
  std::string().swap(client_out_);
  if (pending_.empty()) std::string().swap(pending_);
  releaseExchange();
}

void DownstreamSession::resetExchange() {
  settleRetryBudget();
  ex().retries_done = 0;
  ex().last_failure.clear();
  ex().retry_status = 0;
  ex().sent_upstream = false;
  ex().snapshot.reset();
  ex().route = nullptr;
  ex().route_view = nullptr;
  ex().rewritten_target.clear();
  ex().cluster.reset();
  ex().endpoint.reset();
  ex().route_index.reset();
  ex().upstream_reused = false;
  ex().upstream_eof = false;
  ex().retried_stale = false;
  ex().request_head.clear();
  ex().replay_body.clear();
  ex().upstream_out.clear();
  ex().replayable = true;
  ex().request_framing = http::Framing::None;
  ex().response_framing = http::Framing::None;
  ex().head_seen = false;
  ex().request_done = false;
  ex().response_started = false;
  ex().unsent_response_at = std::string::npos;
  ex().response_done = false;
  ex().informational = false;
  ex().tunnel = false;
  ex().discard_body = false;
  ex().head_request = false;
  ex().idempotent = false;
  ex().logged = false;
  ex().status = 0;
  ex().upstream_status = 0;
  ex().upstream_bytes_in = 0;
  ex().request_body_bytes = 0;
  ex().response_body_bytes = 0;
  ex().upstream_addr.clear();
  ex().request_id.clear();
}

void DownstreamSession::logExchange() {
  if (ex().logged || !ex().head_seen) return;
  ex().logged = true;
  const uint64_t elapsed_us = (uv_hrtime() - ex().start_ns) / 1000;
  if (ctx_.accessLog().enabled()) {
    const http::MessageHead& h = ex().request_parser.head();
    auto header = [&](std::string_view name) -> std::string_view {
      const std::string* v = h.find(name);
      return v ? std::string_view(*v) : std::string_view();
    };
    AccessRecord r;
    r.remote_addr = client_ip_;
    r.method = h.method;
    r.target = h.target;
    r.protocol = h.isHttp10() ? "HTTP/1.0" : "HTTP/1.1";
    r.status = ex().status;
    r.bytes_sent = ex().response_body_bytes;
    r.referer = header("referer");
    r.user_agent = header("user-agent");
    r.upstream_addr = ex().upstream_addr;
    r.upstream_status = ex().upstream_status;
    r.request_time_s = static_cast<double>(elapsed_us) / 1e6;
    r.request_id = ex().request_id;
    ctx_.accessLog().append(r);
  }

  WorkerTotals& totals = ctx_.totals();
  ++totals.traffic.requests;
  totals.traffic.response(ex().status);
  totals.latency.observe(elapsed_us);
  if (ListenerStats* ls = ctx_.listenerStats(listener_name_)) {
    ++ls->traffic.requests;
    ls->traffic.response(ex().status);
    if (ex().route_index && ex().snapshot == ctx_.snapshot() &&
        *ex().route_index < ls->routes.size()) {
      TrafficCounters& route = ls->routes[*ex().route_index];
      ++route.requests;
      route.response(ex().status);
    }
  }
}

void DownstreamSession::countFailure(FailureReason reason) { ctx_.totals().fail(reason); }

void DownstreamSession::flushClient() {
  if (client_out_.empty() || phase_ == Phase::Closed) return;
  if (ex_) ex_->unsent_response_at = std::string::npos;
  ctx_.totals().traffic.bytes_out += client_out_.size();
  if (tls_) {
    tls_->write(client_out_);
    client_out_.clear();
    tls_->takeOutput(client_out_);
  }
  // Closing: startLinger() below, or the last onWritten(), closes or half-closes at once (a TLS
  // close_notify is written first), so the response and the FIN can share a segment.
  if (!client_.write(std::string_view(client_out_), /*last=*/phase_ == Phase::Closing)) {
    client_out_.clear();
    closeNow();
    return;
  }
  client_out_.clear();
  if (phase_ == Phase::Closing && client_.queuedBytes() == 0) startLinger();
}

void DownstreamSession::updateFlow() {
  if (phase_ == Phase::Closed) return;
  // Client side: pause while the upstream has too much to write, or too much is pipelined. With
  // TLS to the server, what its session holds counts too: writes before the handshake completes
  // wait there, and a server slow to answer the ClientHello must not make us buffer the body.
  size_t backlog = 0;
  if (ex_) {
    backlog = ex_->upstream_out.size();
    if (ex_->upstream) {
      backlog += ex_->upstream->stream.queuedBytes();
      if (ex_->upstream->tls) backlog += ex_->upstream->tls->bufferedBytes();
    }
  }
  bool want;
  if (phase_ == Phase::Closing) {
    want = !quiet_close_;
  } else if (client_eof_ || clientDoneSending()) {
    want = false;
  } else {
    const size_t limit = client_.reading() ? kHighWater : kLowWater;
    want = backlog <= limit && pending_.size() <= kMaxPending;
  }
  if (want && !client_.reading()) {
    client_.startRead();
    if (phase_ == Phase::Exchange && !ex().request_done && ex().head_seen && ex().snapshot)
      client_timer_.start(ex().snapshot->config->timeouts.client_body, [this] { onBodyTimeout(); });
  } else if (!want && client_.reading()) {
    client_.stopRead();
    if (phase_ == Phase::Exchange && !ex().request_done) client_timer_.stop();
  }
  // Upstream side: pause while the client has too much to receive.
  if (upstreamOpen()) {
    const size_t queued = client_.queuedBytes() + (tls_ ? tls_->bufferedBytes() : 0);
    if (ex().upstream->stream.reading() && queued > kHighWater) {
      ex().upstream->stream.stopRead();
    } else if (!ex().upstream->stream.reading() && queued < kLowWater) {
      ex().upstream->stream.startRead();
    }
  }
}

// A plain-text client that asked to close and has sent its whole request sends nothing more
// (RFC 9112 9.6), so it is not read until its response is out, as HAProxy does: the socket is
// never registered with epoll (the speculative read at accept took the request). A client that
// goes away meanwhile is noticed when its response is written.
bool DownstreamSession::clientDoneSending() const {
  return phase_ == Phase::Exchange && ex_ && ex_->request_done && ex_->client_asked_close &&
         pending_.empty() && !upgrade_paused_ && !tls_;
}

void DownstreamSession::closeAfterFlush(bool client_finished) {
  if (phase_ == Phase::Closed || phase_ == Phase::Closing) return;
  // Lingering is needed only when the client may still be sending. A plain-text client that
  // asked to close after a complete request will not, so the connection just closes once the
  // response is out (a TLS client still answers our close_notify: that one lingers).
  quiet_close_ = client_finished && !tls_;
  phase_ = Phase::Closing;
  client_timer_.stop();
  ex().upstream_timer.stop();
  retireUpstream();
  flushClient();
  if (phase_ == Phase::Closing && client_.queuedBytes() == 0) startLinger();
}

// Lingering close (as nginx's lingering_close): half-close our side, then read and discard what
// the client still sends for a while, so that its unread bytes do not turn into a reset that
// destroys the response before the client reads it.
void DownstreamSession::startLinger() {
  if (lingering_) return;
  lingering_ = true;
  if (quiet_close_) {
    // Every byte is with the kernel, which sends it before the FIN. The client was not read since
    // its request (clientDoneSending): bytes it sent anyway would turn the close into a reset.
    if (!client_.hasUnreadBytes()) {
      closeNow();
      return;
    }
    quiet_close_ = false;  // it did: linger as after any other close (updateFlow reads again)
  }
  if (tls_ && tls_->handshakeDone()) {
    tls_->shutdown();  // close_notify
    sendTlsOutput();
  }
  client_.shutdownWrite();
  if (client_eof_) {
    closeNow();
    return;
  }
  client_.startRead();
  client_timer_.start(kLinger, [this] { closeNow(); });
}

void DownstreamSession::closeNow() {
  if (phase_ == Phase::Closed) return;
  if (phase_ == Phase::Exchange) logExchange();
  phase_ = Phase::Closed;
  client_timer_.stop();
  if (ex_) {
    ex_->upstream_timer.stop();
    // An attempt still in flight ends here (the server's in-flight count and the balancer's
    // feedback), and so does the request's share of the retry budget.
    if (ex_->endpoint && ex_->cluster) {
      const auto elapsed = std::chrono::microseconds((uv_hrtime() - ex_->attempt_start_ns) / 1000);
      ex_->cluster->onAbandon(*ex_->endpoint, elapsed);
      ex_->endpoint.reset();
    }
    settleRetryBudget();
  }
  retireUpstream();
  client_.close();
  ctx_.sessionClosed(this);
}

}  // namespace weir::proxy
