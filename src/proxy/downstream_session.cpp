#include "proxy/downstream_session.h"

#include <uv.h>

#include "balance/hash.h"
#include "core/log.h"
#include "health/retry_policy.h"
#include "http/http_date.h"
#include "proxy/request_key.h"
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

health::RetryConfig retryConfigFor(const config::Retries& rc) {
  health::RetryConfig conf;
  conf.attempts = rc.attempts;
  conf.on = 0;
  if (rc.on_connect_failure) conf.on |= health::mask(health::RetryOn::ConnectFailure);
  if (rc.on_timeout) conf.on |= health::mask(health::RetryOn::Timeout);
  if (rc.on_reset) conf.on |= health::mask(health::RetryOn::Reset);
  for (int s : rc.on_statuses) {
    if (s == 502) conf.on |= health::mask(health::RetryOn::Status502);
    if (s == 503) conf.on |= health::mask(health::RetryOn::Status503);
    if (s == 504) conf.on |= health::mask(health::RetryOn::Status504);
  }
  conf.budget_ratio = rc.budget;
  conf.per_try_timeout_ms = static_cast<uint64_t>(rc.per_try_timeout.count());
  conf.backoff_ms = static_cast<uint64_t>(rc.backoff.count());
  conf.max_retry_body = rc.max_retry_body;
  return conf;
}

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && http::iequals(s.substr(0, prefix.size()), prefix);
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

// Everything one request/response exchange needs, and the parser of the next request. A
// connection gives it back between requests (releaseExchange()); the next byte from the client
// takes one again, so an idle keep-alive connection holds little more than its socket.
struct DownstreamSession::Exchange {
  Exchange(DownstreamSession& session, net::EventLoop& loop, const config::Limits& limits)
      : request_parser(http::HttpParser::Mode::Request, &session,
                       http::ParseLimits{limits.max_header_bytes, limits.max_uri_bytes}),
        upstream_timer(loop) {}

  http::HttpParser request_parser;
  net::Timer upstream_timer;
  std::string upstream_out;                  // request bytes not written upstream yet
  std::shared_ptr<const Snapshot> snapshot;  // keeps routes and clusters' config alive
  std::shared_ptr<upstream::Cluster> cluster;
  std::shared_ptr<upstream::EndpointState> endpoint;  // the server of the current attempt
  std::optional<size_t> route_index;
  const config::Route* route = nullptr;        // the upstream route (points into snapshot)
  const RouteView* route_view = nullptr;       // likewise
  config::UpstreamTimeouts upstream_timeouts;  // the route's, else the upstream's
  std::string rewritten_target;
  uint32_t retries_done = 0;
  std::string last_failure;     // why the last attempt failed, for the final 502's log line
  int retry_after_s = 0;        // Retry-After on the next local reply
  int retry_status = 0;         // a 5xx being discarded for a retry
  bool sent_upstream = false;   // bytes of this attempt were written upstream
  bool budget_counted = false;  // counted in the cluster's retry budget
  bool retry_counted = false;
  std::optional<uint64_t> hash;  // request key for hashing policies
  std::string sticky_value;      // the sticky cookie the request carried
  uint64_t attempt_start_ns = 0;
  std::unique_ptr<upstream::UpstreamConnection> upstream;
  bool upstream_connecting = false;
  bool upstream_reused = false;
  bool upstream_eof = false;
  bool retried_stale = false;
  balance::EndpointSet tried;
  std::string request_head;  // as sent upstream, kept for a retry
  std::string replay_body;   // body bytes as sent upstream while small enough to replay
  bool replayable = true;
  http::Framing request_framing = http::Framing::None;
  http::Framing response_framing = http::Framing::None;
  bool head_seen = false;
  bool request_done = false;
  bool response_started = false;
  bool response_done = false;
  bool informational = false;
  bool tunnel = false;
  bool discard_body = false;
  bool client_keep_alive = true;
  bool client_asked_close = false;  // the request said Connection: close (or HTTP/1.0)
  bool client_http10 = false;
  bool head_request = false;
  bool idempotent = false;
  bool logged = false;
  int status = 0;
  int upstream_status = 0;
  uint64_t upstream_bytes_in = 0;
  uint64_t request_body_bytes = 0;
  uint64_t response_body_bytes = 0;
  uint64_t start_ns = 0;
  std::string upstream_addr;
  std::string request_id;
};

DownstreamSession::DownstreamSession(WorkerContext& ctx, size_t listener_index)
    : ctx_(ctx),
      origin_(ctx.snapshot()),
      origin_listener_(listener_index),
      listener_name_(origin_->listeners[listener_index].config->name),
      client_(ctx.loop(), this),
      client_timer_(ctx.loop()) {}

DownstreamSession::~DownstreamSession() {
  client_.close();
  if (ex_ && ex_->upstream) ex_->upstream->stream.close();
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
  ex_->upstream_timer.clear();  // the rest was reset when the last exchange ended
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

void DownstreamSession::onUpstreamTls(const char* data, size_t len) {
  tls::TlsSession& t = *ex().upstream->tls;
  const auto fed = t.feed(data, len);
  std::string plain;
  const auto read = fed == tls::TlsSession::Status::Failed ? fed : t.read(plain);
  std::string out;
  t.takeOutput(out);
  if (!out.empty()) ex().upstream->stream.write(std::move(out));
  if (read == tls::TlsSession::Status::Failed) {
    const std::string why =
        "TLS to upstream server " + ex().endpoint->ep.name + ": " + std::string(t.failureReason());
    if (!t.handshakeDone()) {  // nothing of the request reached the server: a connect failure
      log::warn("upstream ", ex().cluster->config().name, ": ", why);
      ex().last_failure = why;
      ++ex().endpoint->connect_failures;
      countFailure(FailureReason::ConnectFailure);
      if (!retryConfig()) {
        ex().sent_upstream = false;
        ex().upstream_out = ex().request_head + ex().replay_body;
        finishAttempt(false);
        retireUpstream();
        connectAttempt();
      } else if (!retry(health::Failure::ConnectFailure, 0, why)) {
        failUpstream(502, why);
      }
    } else {
      countFailure(FailureReason::UpstreamReset);
      if (ex().response_started) {
        closeNow();
      } else {
        failUpstream(502, why);
      }
    }
    return;
  }
  if (!plain.empty()) onUpstreamRead(plain.data(), plain.size());
  if (read == tls::TlsSession::Status::Closed && ex().upstream) onUpstreamEnd(UV_EOF);
}

void DownstreamSession::writeUpstream(std::string_view bytes) {
  if (!ex().upstream) return;
  if (ex().upstream->tls) {
    ex().upstream->tls->write(bytes);
    std::string out;
    ex().upstream->tls->takeOutput(out);
    if (!out.empty()) ex().upstream->stream.write(std::move(out));
    return;
  }
  ex().upstream->stream.write(bytes);
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
      if (ex().request_parser.headComplete()) client_.quickAck();  // the body continues
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

  // Request target: origin-form, or absolute-form whose authority replaces Host.
  std::string_view target = h.target;
  std::string_view host;
  if (startsWithNoCase(target, "http://") || startsWithNoCase(target, "https://")) {
    size_t start = target.find("//") + 2;
    size_t end = target.find_first_of("/?", start);
    host = target.substr(start, end == std::string_view::npos ? target.npos : end - start);
    target = end == std::string_view::npos ? std::string_view("/") : target.substr(end);
    if (host.empty()) {
      ex().request_parser.fail(400, "empty authority in absolute-form target");
      return false;
    }
  } else if (target == "*" && h.method == "OPTIONS") {
    // asterisk-form: routed by path "*"
  } else if (target.empty() || target.front() != '/') {
    ex().request_parser.fail(400, "invalid request target");
    return false;
  }
  std::string_view route_host = host;
  if (route_host.empty()) {
    if (const std::string* hh = h.find("host")) route_host = *hh;
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

void DownstreamSession::startProxy(const http::MessageHead& req, std::string_view target,
                                   std::string_view host) {
  ex().request_framing = req.chunked          ? http::Framing::Chunked
                         : req.content_length ? http::Framing::Length
                                              : http::Framing::None;
  http::ForwardInfo info;
  info.client_ip = client_ip_;
  info.proto = tls_ ? "https" : "http";
  info.request_id = ex().request_id;
  info.target = target;
  info.host = host;
  info.forwarded_host = host;
  if (ex().route && ex().route->host_rewrite) info.host = *ex().route->host_rewrite;
  if (ex().route_view && !ex().route_view->request_edits.empty())
    info.edits = &ex().route_view->request_edits;
  http::writeUpstreamRequest(req, info, ex().request_framing, ex().request_head);
  ex().upstream_out = ex().request_head;
  ex().tried.clear();
  const config::Upstream& up = ex().cluster->config();
  ex().hash.reset();
  if (up.hash_key) {
    if (auto key = requestKey(*up.hash_key, req, client_ip_)) ex().hash = balance::hashKey(*key);
  }
  ex().cluster->retryBudget().requestStarted();
  ex().budget_counted = true;
  ex().sticky_value.clear();
  if (up.sticky) {
    if (auto cookie = findCookie(req, up.sticky->cookie)) ex().sticky_value = std::string(*cookie);
  }
  connectAttempt();
}

void DownstreamSession::connectAttempt(bool reuse) {
  ex().endpoint = nullptr;
  if (!ex().sticky_value.empty() && ex().tried.empty())
    ex().endpoint = ex().cluster->findSticky(ex().sticky_value);
  if (!ex().endpoint) ex().endpoint = ex().cluster->pick(ex().tried, ex().hash);
  if (!ex().endpoint) {
    const bool none = ex().tried.empty();
    countFailure(FailureReason::NoServer);
    if (none && ex().cluster->panicked()) {
      ex().retry_after_s = 1;  // clients may come back shortly: health checks may recover
      failUpstream(503, "every server of upstream " + ex().cluster->config().name +
                            " is unhealthy (panic: fail_closed)");
      return;
    }
    failUpstream(none ? 503 : 502,
                 none ? "no upstream server available"
                      : "no upstream server left to try" +
                            (ex().last_failure.empty() ? std::string()
                                                       : " (last: " + ex().last_failure + ")"));
    return;
  }
  ex().tried.set(ex().endpoint->index);
  ex().cluster->onStart(*ex().endpoint);
  ex().attempt_start_ns = uv_hrtime();
  const upstream::Endpoint& ep = ex().endpoint->ep;
  if (!ex().upstream_addr.empty()) ex().upstream_addr += ", ";
  ex().upstream_addr += ep.name;
  if (auto idle = reuse ? ex().cluster->takeIdle(*ex().endpoint) : nullptr) {
    ex().upstream = std::move(idle);
    ex().upstream_reused = true;
    ex().upstream->stream.setHandler(this);
    ex().upstream->parser.setSink(this);
    onUpstreamReady();
    return;
  }
  ex().upstream = std::make_unique<upstream::UpstreamConnection>(ctx_.loop(), ex().endpoint,
                                                                 ex().cluster->parseLimits());
  ex().upstream->stream.setHandler(this);
  ex().upstream->parser.setSink(this);
  ex().upstream_reused = false;
  ex().upstream_connecting = true;
  int rc = ex().upstream->stream.connect(ep.address.get());
  if (rc != 0) {
    onUpstreamConnected(rc);
    return;
  }
  ex().upstream_timer.start(ex().upstream_timeouts.connect, [this] { onUpstreamTimeout(); });
}

void DownstreamSession::onUpstreamConnected(int status) {
  if (!ex().upstream || phase_ != Phase::Exchange) return;
  ex().upstream_connecting = false;
  if (status != 0) {
    log::warn("upstream ", ex().cluster->config().name, " server ", ex().endpoint->ep.name,
              ": connect failed: ", uv_strerror(status));
    ++ex().endpoint->connect_failures;
    countFailure(FailureReason::ConnectFailure);
    if (!retryConfig()) {
      finishAttempt(false);
      retireUpstream();
      connectAttempt();  // nothing was sent: another server may take it
    } else if (!retry(health::Failure::ConnectFailure, 0, "connect failed")) {
      failUpstream(502, "upstream " + ex().cluster->config().name + ": connect failed");
    }
    return;
  }
  ex().upstream->stream.setNoDelay(true);
  if (ex().cluster->tls()) {
    const std::string& sni = ex().cluster->tls()->config().server_name;
    ex().upstream->tls = tls::TlsSession::client(
        *ex().cluster->tls(),
        sni.empty() ? routing::hostOf(ex().endpoint->ep.name) : std::string_view(sni));
    std::string hello;
    ex().upstream->tls->takeOutput(hello);
    ex().upstream->stream.write(std::move(hello));
  }
  onUpstreamReady();
}

void DownstreamSession::onUpstreamReady() {
  ++ex().upstream->requests;
  ex().upstream->parser.expectNoBody(ex().head_request);
  ex().upstream->stream.startRead();
  ex().upstream_timer.start(attemptTimeout(), [this] { onUpstreamTimeout(); });
}

// The upstream's silence limit: `timeouts.response`, and with retries, until the response head
// arrives, the shorter per_try_timeout.
std::chrono::milliseconds DownstreamSession::attemptTimeout() const {
  auto timeout = ex().upstream_timeouts.response;
  if (phase_ == Phase::Exchange && !ex().response_started) {
    if (const config::Retries* rc = retryConfig()) timeout = std::min(timeout, rc->per_try_timeout);
  }
  return timeout;
}

const config::Retries* DownstreamSession::retryConfig() const {
  if (ex().route && ex().route->retries) return &*ex().route->retries;
  if (ex().cluster && ex().cluster->config().retries) return &*ex().cluster->config().retries;
  return nullptr;
}

bool DownstreamSession::retriesOnStatus(int status) const {
  const config::Retries* rc = retryConfig();
  if (!rc) return false;
  for (int s : rc->on_statuses)
    if (s == status) return true;
  return false;
}

// Decides (health::decide) whether the failed attempt is tried again on another server; if so,
// schedules it after the backoff and returns true. Never replays what may have had effects: a
// request whose bytes reached the server is retried only when idempotent and fully buffered.
health::RetryVerdict DownstreamSession::retryVerdict(health::Failure failure, int status) const {
  const config::Retries* rc = retryConfig();
  if (!rc) return health::RetryVerdict::NotConfigured;
  health::RetryConfig conf = retryConfigFor(*rc);
  if (failure == health::Failure::Status) {
    // Any 5xx listed in `on` is retried; the decision table knows 502-504 by name, so a listed
    // status is presented to it as 502 (the rules are the same for every status).
    if (!retriesOnStatus(status)) return health::RetryVerdict::NotConfigured;
    conf.on |= health::mask(health::RetryOn::Status502);
    status = 502;
  }
  const http::MessageHead& req = ex().request_parser.head();
  health::AttemptFacts facts;
  facts.failure = failure;
  facts.status = status;
  facts.request_bytes_sent = ex().sent_upstream;
  facts.method = req.method;
  facts.has_idempotency_key = req.find("idempotency-key") != nullptr;
  facts.body_bytes = ex().request_body_bytes;
  facts.body_buffered = ex().replayable && ex().request_done;
  facts.retries_done = ex().retries_done;
  return health::decide(conf, facts, ex().cluster->retryBudget());
}

bool DownstreamSession::retry(health::Failure failure, int status, const std::string& why) {
  const config::Retries* rc = retryConfig();
  if (!rc || phase_ != Phase::Exchange || ex().response_started) return false;
  const health::RetryVerdict verdict = retryVerdict(failure, status);
  if (verdict != health::RetryVerdict::Retry) {
    if (ex().retries_done > 0 || verdict != health::RetryVerdict::NotConfigured)
      log::info("upstream ", ex().cluster->config().name, ": ", why, "; not retried (",
                health::retryVerdictName(verdict), ")");
    return false;
  }
  log::info("upstream ", ex().cluster->config().name, ": ", why, "; retrying on another server");
  const uint64_t delay =
      health::backoffMs(retryConfigFor(*rc), ex().retries_done + 1, ctx_.requestIds().random());
  finishAttempt(false);
  retireUpstream();
  if (ex().sent_upstream) ex().upstream_out = ex().request_head + ex().replay_body;
  ex().sent_upstream = false;
  ++ex().retries_done;
  if (!ex().retry_counted) {
    ex().cluster->retryBudget().retryStarted();
    ex().retry_counted = true;
  }
  ex().upstream_timer.start(std::chrono::milliseconds(delay), [this] {
    connectAttempt();
    flushUpstream();
    flushClient();
    updateFlow();
  });
  return true;
}

void DownstreamSession::onUpstreamTimeout() {
  if (!ex().upstream) return;
  const upstream::Endpoint& ep = ex().endpoint->ep;
  if (phase_ == Phase::Tunnel) {
    closeNow();
    return;
  }
  if (ex().upstream_connecting) {
    log::warn("upstream ", ex().cluster->config().name, " server ", ep.name, ": connect timed out");
    ++ex().endpoint->connect_failures;
    countFailure(FailureReason::ConnectFailure);
    if (!retryConfig()) {
      finishAttempt(false);
      retireUpstream();
      connectAttempt();
    } else if (!retry(health::Failure::ConnectFailure, 0, "connect timed out")) {
      failUpstream(502, "upstream " + ex().cluster->config().name + ": connect timed out");
    }
  } else if (!ex().response_started) {
    countFailure(FailureReason::UpstreamTimeout);
    const std::string why = "upstream server " + ep.name + " timed out";
    if (!retry(health::Failure::Timeout, 0, why)) failUpstream(504, why);
  } else {
    log::warn("upstream ", ex().cluster->config().name, " server ", ep.name,
              ": timed out in the middle of the response");
    countFailure(FailureReason::UpstreamTimeout);
    closeNow();
  }
  flushUpstream();
  flushClient();
  updateFlow();
}

void DownstreamSession::onUpstreamRead(const char* data, size_t len) {
  if (!ex().upstream) return;
  if (phase_ == Phase::Tunnel) {
    client_out_.append(data, len);
    ex().upstream_timer.restart(attemptTimeout());
    return;
  }
  if (phase_ != Phase::Exchange) return;
  ex().upstream_bytes_in += len;
  ex().upstream_timer.restart(attemptTimeout());
  http::HttpParser& parser = ex().upstream->parser;
  while (len > 0) {
    auto out = parser.execute(data, len);
    if (out.status == http::HttpParser::Status::NeedMore) {
      if (parser.headComplete()) ex().upstream->stream.quickAck();  // the body continues
      return;
    }
    if (out.status == http::HttpParser::Status::Error && ex().retry_status) {
      const int status = std::exchange(ex().retry_status, 0);
      const std::string why =
          "upstream server " + ex().endpoint->ep.name + " answered " + std::to_string(status);
      ex().upstream_status = status;
      if (!retry(health::Failure::Status, status, why)) failUpstream(status, why);
      return;
    }
    if (out.status == http::HttpParser::Status::Error) {
      countFailure(FailureReason::BadResponse);
      failUpstream(502, "invalid response from upstream server " + ex().endpoint->ep.name + ": " +
                            parser.errorReason());
      return;
    }
    data += out.consumed;
    len -= out.consumed;
    if (out.status == http::HttpParser::Status::Upgrade) {
      client_out_.append(data, len);
      enterTunnel();
      return;
    }
    if (ex().informational) {  // a 1xx: the final response follows
      ex().informational = false;
      parser.resume();
      continue;
    }
    finishResponse(len == 0 && parser.head().keep_alive);
    return;
  }
}

void DownstreamSession::onUpstreamEnd(int status) {
  if (!ex().upstream) return;
  if (phase_ == Phase::Tunnel) {
    ex().upstream_eof = true;
    if (status != UV_EOF || client_eof_) {
      flushClient();
      closeAfterFlush();
    } else {
      flushClient();
      client_.shutdownWrite();
    }
    return;
  }
  if (phase_ != Phase::Exchange) return;
  http::HttpParser& parser = ex().upstream->parser;
  if (status == UV_EOF && ex().response_started && parser.inMessage() && parser.needsEof()) {
    parser.finish();  // a close-delimited body ends here
    if (ex().response_done) {
      finishResponse(false);
      return;
    }
  }
  const upstream::Endpoint& ep = ex().endpoint->ep;
  const char* why = status == UV_EOF ? "closed the connection" : uv_strerror(status);
  if (ex().upstream_bytes_in == 0 && ex().upstream_reused && !ex().retried_stale &&
      ex().replayable && ex().idempotent) {
    // A kept-alive connection the server had closed: send again on a fresh one.
    log::info("upstream ", ex().cluster->config().name, " server ", ep.name, ": idle connection ",
              why, "; retrying on a new connection");
    ex().retried_stale = true;
    const size_t index = ex().endpoint->index;
    finishAttempt(false);
    retireUpstream();
    ex().tried.reset(index);
    ex().upstream_out = ex().request_head + ex().replay_body;
    connectAttempt(/*reuse=*/false);
    return;
  }
  countFailure(FailureReason::UpstreamReset);
  if (!ex().response_started) {
    const std::string reason =
        "upstream server " + ep.name + " " + why + " before a complete response";
    if (!retry(health::Failure::Reset, 0, reason)) failUpstream(502, reason);
  } else {
    log::warn("upstream ", ex().cluster->config().name, " server ", ep.name, ": ", why,
              " in the middle of the response; closing the client connection");
    closeNow();
  }
}

bool DownstreamSession::onResponseHead(http::HttpParser& p) {
  const http::MessageHead& h = p.head();
  if (h.status < 200 && h.status != 101) {
    ex().informational = true;
    if (!ex().client_http10)
      http::writeClientResponse(h, http::Framing::None, true, false, client_out_);
    return true;
  }
  if (h.status == 101) {
    if (!h.upgrade || !ex().request_parser.head().upgrade) {
      p.fail(502, "unexpected 101 response");
      return false;
    }
    ex().tunnel = true;
  }
  if (h.status >= 500 && retriesOnStatus(h.status)) {
    const health::RetryVerdict verdict = retryVerdict(health::Failure::Status, h.status);
    if (verdict == health::RetryVerdict::Retry) {
      ex().retry_status = h.status;  // retried from onUpstreamRead, outside the parser
      p.fail(502, "retrying");
      return false;
    }
    // Not retried: the client gets this server's own answer.
    log::info("upstream ", ex().cluster->config().name, ": upstream server ",
              ex().endpoint->ep.name, " answered ", h.status, "; not retried (",
              health::retryVerdictName(verdict), ")");
  }
  ex().status = h.status;
  ex().upstream_status = h.status;
  if (ex().tunnel || ex().head_request || h.status == 204 || h.status == 304) {
    ex().response_framing = http::Framing::None;
  } else if (h.content_length) {
    ex().response_framing = http::Framing::Length;
  } else if (ex().client_http10) {
    ex().response_framing = http::Framing::Close;
    ex().client_keep_alive = false;
  } else {
    ex().response_framing = http::Framing::Chunked;
  }
  if (ctx_.draining() || upgrade_paused_) ex().client_keep_alive = false;
  const http::HeaderEdits* edits = ex().route_view && !ex().route_view->response_edits.empty()
                                       ? &ex().route_view->response_edits
                                       : nullptr;
  http::HeaderEdits sticky;
  if (const auto& cfg = ex().cluster->config().sticky; cfg && ex().endpoint) {
    std::string value = ex().cluster->stickyValue(*ex().endpoint);
    if (value != ex().sticky_value) {
      if (edits) sticky = *edits;
      sticky.add.push_back({"Set-Cookie", cfg->cookie + "=" + value + "; Path=/; Max-Age=" +
                                              std::to_string(cfg->ttl.count() / 1000) +
                                              "; HttpOnly"});
      edits = &sticky;
    }
  }
  http::writeClientResponse(h, ex().response_framing, ex().client_keep_alive, ex().client_http10,
                            client_out_, edits);
  ex().response_started = true;
  return true;
}

void DownstreamSession::onResponseBody(const char* data, size_t len) {
  ex().response_body_bytes += len;
  if (ex().response_framing == http::Framing::Chunked) {
    http::appendChunk(client_out_, data, len);
  } else {
    client_out_.append(data, len);
  }
}

void DownstreamSession::finishResponse(bool reusable) {
  ex().upstream_timer.stop();
  finishAttempt(true);
  if (ex().upstream) {
    if (reusable && ex().request_done && ex().upstream_out.empty() &&
        ex().upstream->stream.queuedBytes() == 0) {
      // The read watcher stays armed: the pool takes over the handler, no epoll_ctl.
      ex().cluster->release(std::move(ex().upstream));
    } else {
      retireUpstream();
    }
  }
  ex().response_done = true;
  if (!ex().request_done) {
    // The server answered before the whole request arrived: the rest of it cannot be framed
    // for a next request without reading it all, so the connection ends with this response.
    ex().client_keep_alive = false;
  }
  endExchange();
}

void DownstreamSession::failUpstream(int status, const std::string& reason) {
  finishAttempt(false);
  log::warn("upstream ", ex().cluster ? ex().cluster->config().name : std::string("-"), ": ",
            status, ": ", reason);
  retireUpstream();
  ex().upstream_timer.stop();
  if (ex().response_started) {
    closeNow();
    return;
  }
  std::string body(http::reasonPhrase(status));
  body += '\n';
  // A request without a body keeps its connection (it completes as soon as its head is
  // parsed); one whose body is still arriving is answered and closed.
  const http::MessageHead& req = ex().request_parser.head();
  const bool body_unread = !ex().request_done && (req.chunked || req.content_length.value_or(0));
  localReply(status, body, nullptr, body_unread);
  if (ex().request_done || !ex().client_keep_alive) endExchange();
}

void DownstreamSession::retireUpstream() {
  if (!ex_) return;
  ex_->upstream_connecting = false;
  if (!ex_->upstream) return;
  ex_->upstream->stream.close();
  ctx_.loop().deferDelete(std::move(ex_->upstream));
}

void DownstreamSession::enterTunnel() {
  phase_ = Phase::Tunnel;
  client_timer_.stop();
  logExchange();
  drainPending();  // bytes the client sent after its upgrade request
}

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
  out.append(ex().client_http10 ? "HTTP/1.0 " : "HTTP/1.1 ");
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
      if (http::iequals(hd.name, "content-type")) has_type = true;
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

// The request's share of its cluster's retry budget ends (once).
void DownstreamSession::settleRetryBudget() {
  Exchange& x = ex();
  if (x.cluster && x.budget_counted) x.cluster->retryBudget().requestFinished();
  if (x.cluster && x.retry_counted) x.cluster->retryBudget().retryFinished();
  x.budget_counted = x.retry_counted = false;
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

void DownstreamSession::finishAttempt(bool ok) {
  if (!ex().endpoint || !ex().cluster) return;
  const auto latency = std::chrono::microseconds((uv_hrtime() - ex().attempt_start_ns) / 1000);
  ex().cluster->onFinish(*ex().endpoint, latency, ok);
  if (ok) ex().endpoint->traffic.response(ex().upstream_status);
  if (const auto& passive = ex().cluster->config().passive) {
    bool failed = !ok;
    for (int s : passive->failure_statuses)
      if (ok && ex().upstream_status == s) failed = true;
    if (failed || ex().endpoint->last_failed)
      ctx_.reportPassive(ex().cluster->config().name, ex().endpoint->ep.name, failed);
    ex().endpoint->last_failed = failed;
  }
  ex().endpoint.reset();
}

void DownstreamSession::flushClient() {
  if (client_out_.empty() || phase_ == Phase::Closed) return;
  ctx_.totals().traffic.bytes_out += client_out_.size();
  if (tls_) {
    tls_->write(client_out_);
    client_out_.clear();
    tls_->takeOutput(client_out_);
  }
  if (!client_.write(std::string_view(client_out_))) {
    client_out_.clear();
    closeNow();
    return;
  }
  client_out_.clear();
  if (phase_ == Phase::Closing && client_.queuedBytes() == 0) startLinger();
}

void DownstreamSession::flushUpstream() {
  if (!upstreamOpen() || ex_->upstream_out.empty()) return;
  ex().sent_upstream = true;
  if (ex().upstream->tls) {
    ex().upstream->tls->write(ex().upstream_out);
    ex().upstream_out.clear();
    ex().upstream->tls->takeOutput(ex().upstream_out);
  }
  if (!ex().upstream->stream.write(std::string_view(ex().upstream_out))) {
    ex().upstream_out.clear();
    onUpstreamEnd(UV_EPIPE);
    return;
  }
  ex().upstream_out.clear();
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
    want = true;
  } else if (client_eof_) {
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
    closeNow();  // every byte is with the kernel, which sends it before the FIN
    return;
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
