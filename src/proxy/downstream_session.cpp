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

constexpr size_t kHighWater = 256 * 1024;    // pause the reading side above this backlog
constexpr size_t kLowWater = 64 * 1024;      // resume below this
constexpr size_t kMaxPending = 64 * 1024;    // pipelined bytes held before reading pauses
constexpr size_t kMaxReplay = 64 * 1024;     // request bytes kept to retry on a stale connection
constexpr milliseconds kLinger{2000};        // lingering close: read and discard this long
constexpr milliseconds kCompactAfter{1000};  // idle this long: give back buffers

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

DownstreamSession::DownstreamSession(WorkerContext& ctx, size_t listener_index)
    : ctx_(ctx),
      origin_(ctx.snapshot()),
      origin_listener_(listener_index),
      listener_name_(origin_->listeners[listener_index].config->name),
      client_(ctx.loop(), this),
      request_parser_(http::HttpParser::Mode::Request, this,
                      http::ParseLimits{ctx.snapshot()->config->limits.max_header_bytes,
                                        ctx.snapshot()->config->limits.max_uri_bytes}),
      client_timer_(ctx.loop()),
      upstream_timer_(ctx.loop()) {}

DownstreamSession::~DownstreamSession() {
  client_.close();
  if (upstream_) upstream_->stream.close();
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
  client_.setNoDelay(true);
  client_.startRead();
  const auto& timeouts = ctx_.snapshot()->config->timeouts;
  client_timer_.start(timeouts.client_header, [this] { onHeaderTimeout(); });
  return true;
}

void DownstreamSession::drain() {
  if (phase_ == Phase::WaitRequest && !head_started_ && pending_.empty()) {
    closeNow();
    return;
  }
  client_keep_alive_ = false;
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
  } else if (upstream_ && upstream_->tls) {
    onUpstreamTls(data, len);
  } else {
    onUpstreamRead(data, len);
  }
  flushUpstream();
  flushClient();
  updateFlow();
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
    ++ctx_.totals().tls_handshake_failures;
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
  tls::TlsSession& t = *upstream_->tls;
  const auto fed = t.feed(data, len);
  std::string plain;
  const auto read = fed == tls::TlsSession::Status::Failed ? fed : t.read(plain);
  std::string out;
  t.takeOutput(out);
  if (!out.empty()) upstream_->stream.write(std::move(out));
  if (read == tls::TlsSession::Status::Failed) {
    const std::string why =
        "TLS to upstream server " + endpoint_->ep.name + ": " + std::string(t.failureReason());
    if (!t.handshakeDone()) {  // nothing of the request reached the server: a connect failure
      log::warn("upstream ", cluster_->config().name, ": ", why);
      last_failure_ = why;
      ++endpoint_->connect_failures;
      countFailure(FailureReason::ConnectFailure);
      if (!retryConfig()) {
        sent_upstream_ = false;
        upstream_out_ = request_head_ + replay_body_;
        finishAttempt(false);
        retireUpstream();
        connectAttempt();
      } else if (!retry(health::Failure::ConnectFailure, 0, why)) {
        failUpstream(502, why);
      }
    } else {
      countFailure(FailureReason::UpstreamReset);
      if (response_started_) {
        closeNow();
      } else {
        failUpstream(502, why);
      }
    }
    return;
  }
  if (!plain.empty()) onUpstreamRead(plain.data(), plain.size());
  if (read == tls::TlsSession::Status::Closed && upstream_) onUpstreamEnd(UV_EOF);
}

void DownstreamSession::writeUpstream(std::string_view bytes) {
  if (!upstream_) return;
  if (upstream_->tls) {
    upstream_->tls->write(bytes);
    std::string out;
    upstream_->tls->takeOutput(out);
    if (!out.empty()) upstream_->stream.write(std::move(out));
    return;
  }
  upstream_->stream.write(bytes);
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
    upstream_timer_.restart(attemptTimeout());
  }
  updateFlow();
}

void DownstreamSession::onConnected(net::TcpStream&, int status) {
  onUpstreamConnected(status);
  flushUpstream();
  flushClient();
  updateFlow();
}

bool DownstreamSession::onHead(http::HttpParser& p) {
  return &p == &request_parser_ ? onRequestHead(p) : onResponseHead(p);
}

void DownstreamSession::onBody(http::HttpParser& p, const char* data, size_t len) {
  if (&p == &request_parser_) {
    onRequestBody(data, len);
  } else {
    onResponseBody(data, len);
  }
}

void DownstreamSession::onMessageComplete(http::HttpParser& p) {
  if (&p == &request_parser_) {
    if (request_framing_ == http::Framing::Chunked && !discard_body_ && cluster_) {
      upstream_out_.append(http::kLastChunk);
      if (replayable_) replay_body_.append(http::kLastChunk);
    }
    return;  // the rest happens in parseClientBytes, outside the parser
  }
  if (informational_ || tunnel_) return;
  if (response_framing_ == http::Framing::Chunked) client_out_.append(http::kLastChunk);
  response_done_ = true;
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
      upstream_timer_.restart(attemptTimeout());
      return;
    default:
      break;
  }
  if (phase_ == Phase::WaitRequest && !head_started_) {
    head_started_ = true;
    client_timer_.start(snapshot_ ? snapshot_->config->timeouts.client_header
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
  if (phase_ == Phase::Tunnel && !pending_.empty() && upstream_) {
    writeUpstream(std::string_view(pending_));
    pending_.clear();
  }
}

size_t DownstreamSession::parseClientBytes(const char* data, size_t len) {
  auto out = request_parser_.execute(data, len);
  switch (out.status) {
    case http::HttpParser::Status::NeedMore:
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
  head_seen_ = true;
  snapshot_ = ctx_.snapshot();
  auto listener = snapshot_->findListener(listener_name_);
  if (!listener) {  // the listener was removed by a reload: stay on the config it came with
    snapshot_ = origin_;
    listener = origin_listener_;
  }
  const config::Config& cfg = *snapshot_->config;
  start_ns_ = uv_hrtime();
  client_http10_ = h.isHttp10();
  client_keep_alive_ = h.keep_alive && !ctx_.draining();
  head_request_ = h.method == "HEAD";
  idempotent_ = health::isIdempotent(h.method);
  if (const std::string* id = h.find("x-request-id")) {
    request_id_ = *id;
  } else {
    char fresh[32];
    ctx_.requestIds().next(fresh);
    request_id_.assign(fresh, sizeof fresh);
  }
  const bool has_body = h.chunked || h.content_length.value_or(0) > 0;
  if (has_body) {
    client_timer_.start(cfg.timeouts.client_body, [this] { onBodyTimeout(); });
  } else {
    client_timer_.stop();
  }
  if (h.content_length && *h.content_length > cfg.limits.max_body_bytes) {
    request_parser_.fail(413, "request body larger than max_body_bytes");
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
      request_parser_.fail(400, "empty authority in absolute-form target");
      return false;
    }
  } else if (target == "*" && h.method == "OPTIONS") {
    // asterisk-form: routed by path "*"
  } else if (target.empty() || target.front() != '/') {
    request_parser_.fail(400, "invalid request target");
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

  const ListenerView& lv = snapshot_->listeners[*listener];
  const MessageHeaders headers(h);
  const routing::RequestView view{h.method, route_host, path, query, &headers};
  auto index = lv.routes.match(view);
  route_index_ = index;
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
  cluster_ = ctx_.cluster(*snapshot_, *rv.upstream);
  if (!cluster_) {
    localReply(503, "upstream removed\n", nullptr, false);
    return true;
  }
  route_ = &route;
  route_view_ = &rv;
  upstream_timeouts_ = route.timeouts.value_or(cluster_->config().timeouts);
  if (route.strip_prefix || route.add_prefix || route.rewrite) {
    rewritten_target_ = lv.routes.rewritePath(*index, path);
    if (qmark != std::string_view::npos) rewritten_target_.append(target.substr(qmark));
    target = rewritten_target_;
  }
  startProxy(h, target, host);
  return true;
}

void DownstreamSession::onRequestBody(const char* data, size_t len) {
  request_body_bytes_ += len;
  if (request_body_bytes_ > snapshot_->config->limits.max_body_bytes) {
    request_parser_.fail(413, "request body larger than max_body_bytes");
    return;
  }
  if (!request_done_ && client_timer_.active())
    client_timer_.restart(snapshot_->config->timeouts.client_body);
  if (discard_body_ || !cluster_) return;
  size_t before = upstream_out_.size();
  if (request_framing_ == http::Framing::Chunked) {
    http::appendChunk(upstream_out_, data, len);
  } else {
    upstream_out_.append(data, len);
  }
  if (replayable_) {
    size_t added = upstream_out_.size() - before;
    const config::Retries* rc = retryConfig();
    const uint64_t limit = rc ? rc->max_retry_body : kMaxReplay;
    if (replay_body_.size() + added > limit) {
      replayable_ = false;
      replay_body_.clear();
    } else {
      replay_body_.append(upstream_out_, before, added);
    }
  }
  if (upstreamOpen()) upstream_timer_.restart(attemptTimeout());
}

void DownstreamSession::onRequestDone() {
  request_done_ = true;
  client_timer_.stop();
  if (response_done_) endExchange();
}

void DownstreamSession::onRequestError() {
  const int status = request_parser_.errorStatus();
  const std::string& reason = request_parser_.errorReason();
  countFailure(status == 413   ? FailureReason::BodyTooLarge
               : status == 414 ? FailureReason::UriTooLong
               : status == 431 ? FailureReason::HeaderTooLarge
                               : FailureReason::BadRequest);
  log::warn("client ", client_ip_, ": ", status, ": ", reason);
  if (phase_ == Phase::Exchange && response_started_) {
    closeNow();  // the response is under way: it cannot be replaced by an error
    return;
  }
  retireUpstream();
  if (phase_ != Phase::Exchange) {
    resetExchange();
    phase_ = Phase::Exchange;
    start_ns_ = uv_hrtime();
    head_seen_ = true;
  }
  std::string body(http::reasonPhrase(status));
  body += '\n';
  localReply(status, body, nullptr, true);
  endExchange();
}

void DownstreamSession::onClientEnd(int status) {
  client_eof_ = true;
  if (phase_ == Phase::Tunnel) {
    if (status != UV_EOF || upstream_eof_ || !upstream_) {
      closeNow();
    } else {
      upstream_->stream.shutdownWrite();
    }
    return;
  }
  if (phase_ == Phase::Exchange && request_done_ && !response_done_ && status == UV_EOF) {
    client_keep_alive_ = false;  // half-close after a complete request: answer, then close
    return;
  }
  if (phase_ == Phase::Exchange && !response_done_) {
    log::info("client ", client_ip_, " closed the connection before the response was complete");
    if (!response_started_) status_ = 499;
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
  head_seen_ = true;
  start_ns_ = uv_hrtime();
  localReply(408, "request timeout\n", nullptr, true);
  endExchange();
  flushClient();
}

void DownstreamSession::onBodyTimeout() {
  if (phase_ != Phase::Exchange || request_done_) return;
  log::info("client ", client_ip_, ": 408: request body not received in time");
  countFailure(FailureReason::ClientTimeout);
  if (response_started_) {
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
  request_framing_ = req.chunked          ? http::Framing::Chunked
                     : req.content_length ? http::Framing::Length
                                          : http::Framing::None;
  http::ForwardInfo info;
  info.client_ip = client_ip_;
  info.proto = tls_ ? "https" : "http";
  info.request_id = request_id_;
  info.target = target;
  info.host = host;
  info.forwarded_host = host;
  if (route_ && route_->host_rewrite) info.host = *route_->host_rewrite;
  if (route_view_ && !route_view_->request_edits.empty()) info.edits = &route_view_->request_edits;
  http::writeUpstreamRequest(req, info, request_framing_, request_head_);
  upstream_out_ = request_head_;
  tried_.clear();
  const config::Upstream& up = cluster_->config();
  hash_.reset();
  if (up.hash_key) {
    if (auto key = requestKey(*up.hash_key, req, client_ip_)) hash_ = balance::hashKey(*key);
  }
  cluster_->retryBudget().requestStarted();
  budget_counted_ = true;
  sticky_value_.clear();
  if (up.sticky) {
    if (auto cookie = findCookie(req, up.sticky->cookie)) sticky_value_ = std::string(*cookie);
  }
  connectAttempt();
}

void DownstreamSession::connectAttempt(bool reuse) {
  endpoint_ = nullptr;
  if (!sticky_value_.empty() && tried_.empty()) endpoint_ = cluster_->findSticky(sticky_value_);
  if (!endpoint_) endpoint_ = cluster_->pick(tried_, hash_);
  if (!endpoint_) {
    const bool none = tried_.empty();
    countFailure(FailureReason::NoServer);
    if (none && cluster_->panicked()) {
      retry_after_s_ = 1;  // clients may come back shortly: health checks may recover
      failUpstream(503, "every server of upstream " + cluster_->config().name +
                            " is unhealthy (panic: fail_closed)");
      return;
    }
    failUpstream(
        none ? 503 : 502,
        none ? "no upstream server available"
             : "no upstream server left to try" +
                   (last_failure_.empty() ? std::string() : " (last: " + last_failure_ + ")"));
    return;
  }
  tried_.set(endpoint_->index);
  cluster_->onStart(*endpoint_);
  attempt_start_ns_ = uv_hrtime();
  const upstream::Endpoint& ep = endpoint_->ep;
  if (!upstream_addr_.empty()) upstream_addr_ += ", ";
  upstream_addr_ += ep.name;
  if (auto idle = reuse ? cluster_->takeIdle(*endpoint_) : nullptr) {
    upstream_ = std::move(idle);
    upstream_reused_ = true;
    upstream_->stream.setHandler(this);
    upstream_->parser.setSink(this);
    onUpstreamReady();
    return;
  }
  upstream_ = std::make_unique<upstream::UpstreamConnection>(ctx_.loop(), endpoint_,
                                                             cluster_->parseLimits());
  upstream_->stream.setHandler(this);
  upstream_->parser.setSink(this);
  upstream_reused_ = false;
  upstream_connecting_ = true;
  int rc = upstream_->stream.connect(ep.address.get());
  if (rc != 0) {
    onUpstreamConnected(rc);
    return;
  }
  upstream_timer_.start(upstream_timeouts_.connect, [this] { onUpstreamTimeout(); });
}

void DownstreamSession::onUpstreamConnected(int status) {
  if (!upstream_ || phase_ != Phase::Exchange) return;
  upstream_connecting_ = false;
  if (status != 0) {
    log::warn("upstream ", cluster_->config().name, " server ", endpoint_->ep.name,
              ": connect failed: ", uv_strerror(status));
    ++endpoint_->connect_failures;
    countFailure(FailureReason::ConnectFailure);
    if (!retryConfig()) {
      finishAttempt(false);
      retireUpstream();
      connectAttempt();  // nothing was sent: another server may take it
    } else if (!retry(health::Failure::ConnectFailure, 0, "connect failed")) {
      failUpstream(502, "upstream " + cluster_->config().name + ": connect failed");
    }
    return;
  }
  upstream_->stream.setNoDelay(true);
  if (cluster_->tls()) {
    const std::string& sni = cluster_->tls()->config().server_name;
    upstream_->tls =
        tls::TlsSession::client(*cluster_->tls(), sni.empty() ? routing::hostOf(endpoint_->ep.name)
                                                              : std::string_view(sni));
    std::string hello;
    upstream_->tls->takeOutput(hello);
    upstream_->stream.write(std::move(hello));
  }
  onUpstreamReady();
}

void DownstreamSession::onUpstreamReady() {
  ++upstream_->requests;
  upstream_->parser.expectNoBody(head_request_);
  upstream_->stream.startRead();
  upstream_timer_.start(attemptTimeout(), [this] { onUpstreamTimeout(); });
}

// The upstream's silence limit: `timeouts.response`, and with retries, until the response head
// arrives, the shorter per_try_timeout.
std::chrono::milliseconds DownstreamSession::attemptTimeout() const {
  auto timeout = upstream_timeouts_.response;
  if (phase_ == Phase::Exchange && !response_started_) {
    if (const config::Retries* rc = retryConfig()) timeout = std::min(timeout, rc->per_try_timeout);
  }
  return timeout;
}

const config::Retries* DownstreamSession::retryConfig() const {
  if (route_ && route_->retries) return &*route_->retries;
  if (cluster_ && cluster_->config().retries) return &*cluster_->config().retries;
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
  const http::MessageHead& req = request_parser_.head();
  health::AttemptFacts facts;
  facts.failure = failure;
  facts.status = status;
  facts.request_bytes_sent = sent_upstream_;
  facts.method = req.method;
  facts.has_idempotency_key = req.find("idempotency-key") != nullptr;
  facts.body_bytes = request_body_bytes_;
  facts.body_buffered = replayable_ && request_done_;
  facts.retries_done = retries_done_;
  return health::decide(conf, facts, cluster_->retryBudget());
}

bool DownstreamSession::retry(health::Failure failure, int status, const std::string& why) {
  const config::Retries* rc = retryConfig();
  if (!rc || phase_ != Phase::Exchange || response_started_) return false;
  const health::RetryVerdict verdict = retryVerdict(failure, status);
  if (verdict != health::RetryVerdict::Retry) {
    if (retries_done_ > 0 || verdict != health::RetryVerdict::NotConfigured)
      log::info("upstream ", cluster_->config().name, ": ", why, "; not retried (",
                health::retryVerdictName(verdict), ")");
    return false;
  }
  log::info("upstream ", cluster_->config().name, ": ", why, "; retrying on another server");
  const uint64_t delay =
      health::backoffMs(retryConfigFor(*rc), retries_done_ + 1, ctx_.requestIds().random());
  finishAttempt(false);
  retireUpstream();
  if (sent_upstream_) upstream_out_ = request_head_ + replay_body_;
  sent_upstream_ = false;
  ++retries_done_;
  if (!retry_counted_) {
    cluster_->retryBudget().retryStarted();
    retry_counted_ = true;
  }
  upstream_timer_.start(std::chrono::milliseconds(delay), [this] {
    connectAttempt();
    flushUpstream();
    flushClient();
    updateFlow();
  });
  return true;
}

void DownstreamSession::onUpstreamTimeout() {
  if (!upstream_) return;
  const upstream::Endpoint& ep = endpoint_->ep;
  if (phase_ == Phase::Tunnel) {
    closeNow();
    return;
  }
  if (upstream_connecting_) {
    log::warn("upstream ", cluster_->config().name, " server ", ep.name, ": connect timed out");
    ++endpoint_->connect_failures;
    countFailure(FailureReason::ConnectFailure);
    if (!retryConfig()) {
      finishAttempt(false);
      retireUpstream();
      connectAttempt();
    } else if (!retry(health::Failure::ConnectFailure, 0, "connect timed out")) {
      failUpstream(502, "upstream " + cluster_->config().name + ": connect timed out");
    }
  } else if (!response_started_) {
    countFailure(FailureReason::UpstreamTimeout);
    const std::string why = "upstream server " + ep.name + " timed out";
    if (!retry(health::Failure::Timeout, 0, why)) failUpstream(504, why);
  } else {
    log::warn("upstream ", cluster_->config().name, " server ", ep.name,
              ": timed out in the middle of the response");
    countFailure(FailureReason::UpstreamTimeout);
    closeNow();
  }
  flushUpstream();
  flushClient();
  updateFlow();
}

void DownstreamSession::onUpstreamRead(const char* data, size_t len) {
  if (!upstream_) return;
  if (phase_ == Phase::Tunnel) {
    client_out_.append(data, len);
    upstream_timer_.restart(attemptTimeout());
    return;
  }
  if (phase_ != Phase::Exchange) return;
  upstream_bytes_in_ += len;
  upstream_timer_.restart(attemptTimeout());
  http::HttpParser& parser = upstream_->parser;
  while (len > 0) {
    auto out = parser.execute(data, len);
    if (out.status == http::HttpParser::Status::NeedMore) return;
    if (out.status == http::HttpParser::Status::Error && retry_status_) {
      const int status = std::exchange(retry_status_, 0);
      const std::string why =
          "upstream server " + endpoint_->ep.name + " answered " + std::to_string(status);
      upstream_status_ = status;
      if (!retry(health::Failure::Status, status, why)) failUpstream(status, why);
      return;
    }
    if (out.status == http::HttpParser::Status::Error) {
      countFailure(FailureReason::BadResponse);
      failUpstream(502, "invalid response from upstream server " + endpoint_->ep.name + ": " +
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
    if (informational_) {  // a 1xx: the final response follows
      informational_ = false;
      parser.resume();
      continue;
    }
    finishResponse(len == 0 && parser.head().keep_alive);
    return;
  }
}

void DownstreamSession::onUpstreamEnd(int status) {
  if (!upstream_) return;
  if (phase_ == Phase::Tunnel) {
    upstream_eof_ = true;
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
  http::HttpParser& parser = upstream_->parser;
  if (status == UV_EOF && response_started_ && parser.inMessage() && parser.needsEof()) {
    parser.finish();  // a close-delimited body ends here
    if (response_done_) {
      finishResponse(false);
      return;
    }
  }
  const upstream::Endpoint& ep = endpoint_->ep;
  const char* why = status == UV_EOF ? "closed the connection" : uv_strerror(status);
  if (upstream_bytes_in_ == 0 && upstream_reused_ && !retried_stale_ && replayable_ &&
      idempotent_) {
    // A kept-alive connection the server had closed: send again on a fresh one.
    log::info("upstream ", cluster_->config().name, " server ", ep.name, ": idle connection ", why,
              "; retrying on a new connection");
    retried_stale_ = true;
    const size_t index = endpoint_->index;
    finishAttempt(false);
    retireUpstream();
    tried_.reset(index);
    upstream_out_ = request_head_ + replay_body_;
    connectAttempt(/*reuse=*/false);
    return;
  }
  countFailure(FailureReason::UpstreamReset);
  if (!response_started_) {
    const std::string reason =
        "upstream server " + ep.name + " " + why + " before a complete response";
    if (!retry(health::Failure::Reset, 0, reason)) failUpstream(502, reason);
  } else {
    log::warn("upstream ", cluster_->config().name, " server ", ep.name, ": ", why,
              " in the middle of the response; closing the client connection");
    closeNow();
  }
}

bool DownstreamSession::onResponseHead(http::HttpParser& p) {
  const http::MessageHead& h = p.head();
  if (h.status < 200 && h.status != 101) {
    informational_ = true;
    if (!client_http10_)
      http::writeClientResponse(h, http::Framing::None, true, false, client_out_);
    return true;
  }
  if (h.status == 101) {
    if (!h.upgrade || !request_parser_.head().upgrade) {
      p.fail(502, "unexpected 101 response");
      return false;
    }
    tunnel_ = true;
  }
  if (h.status >= 500 && retriesOnStatus(h.status)) {
    const health::RetryVerdict verdict = retryVerdict(health::Failure::Status, h.status);
    if (verdict == health::RetryVerdict::Retry) {
      retry_status_ = h.status;  // retried from onUpstreamRead, outside the parser
      p.fail(502, "retrying");
      return false;
    }
    // Not retried: the client gets this server's own answer.
    log::info("upstream ", cluster_->config().name, ": upstream server ", endpoint_->ep.name,
              " answered ", h.status, "; not retried (", health::retryVerdictName(verdict), ")");
  }
  status_ = h.status;
  upstream_status_ = h.status;
  if (tunnel_ || head_request_ || h.status == 204 || h.status == 304) {
    response_framing_ = http::Framing::None;
  } else if (h.content_length) {
    response_framing_ = http::Framing::Length;
  } else if (client_http10_) {
    response_framing_ = http::Framing::Close;
    client_keep_alive_ = false;
  } else {
    response_framing_ = http::Framing::Chunked;
  }
  if (ctx_.draining() || upgrade_paused_) client_keep_alive_ = false;
  const http::HeaderEdits* edits =
      route_view_ && !route_view_->response_edits.empty() ? &route_view_->response_edits : nullptr;
  http::HeaderEdits sticky;
  if (const auto& cfg = cluster_->config().sticky; cfg && endpoint_) {
    std::string value = cluster_->stickyValue(*endpoint_);
    if (value != sticky_value_) {
      if (edits) sticky = *edits;
      sticky.add.push_back({"Set-Cookie", cfg->cookie + "=" + value + "; Path=/; Max-Age=" +
                                              std::to_string(cfg->ttl.count() / 1000) +
                                              "; HttpOnly"});
      edits = &sticky;
    }
  }
  http::writeClientResponse(h, response_framing_, client_keep_alive_, client_http10_, client_out_,
                            edits);
  response_started_ = true;
  return true;
}

void DownstreamSession::onResponseBody(const char* data, size_t len) {
  response_body_bytes_ += len;
  if (response_framing_ == http::Framing::Chunked) {
    http::appendChunk(client_out_, data, len);
  } else {
    client_out_.append(data, len);
  }
}

void DownstreamSession::finishResponse(bool reusable) {
  upstream_timer_.stop();
  finishAttempt(true);
  if (upstream_) {
    if (reusable && request_done_ && upstream_out_.empty() &&
        upstream_->stream.queuedBytes() == 0) {
      // The read watcher stays armed: the pool takes over the handler, no epoll_ctl.
      cluster_->release(std::move(upstream_));
    } else {
      retireUpstream();
    }
  }
  response_done_ = true;
  if (!request_done_) {
    // The server answered before the whole request arrived: the rest of it cannot be framed
    // for a next request without reading it all, so the connection ends with this response.
    client_keep_alive_ = false;
  }
  endExchange();
}

void DownstreamSession::failUpstream(int status, const std::string& reason) {
  finishAttempt(false);
  log::warn("upstream ", cluster_ ? cluster_->config().name : std::string("-"), ": ", status, ": ",
            reason);
  retireUpstream();
  upstream_timer_.stop();
  if (response_started_) {
    closeNow();
    return;
  }
  std::string body(http::reasonPhrase(status));
  body += '\n';
  localReply(status, body, nullptr, !request_done_);
  if (request_done_ || !client_keep_alive_) endExchange();
}

void DownstreamSession::retireUpstream() {
  upstream_connecting_ = false;
  if (!upstream_) return;
  upstream_->stream.close();
  ctx_.loop().deferDelete(std::move(upstream_));
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
  status_ = status;
  response_started_ = true;
  response_done_ = true;
  discard_body_ = true;
  if (close) client_keep_alive_ = false;
  if (ctx_.draining()) client_keep_alive_ = false;
  std::string& out = client_out_;
  out.append(client_http10_ ? "HTTP/1.0 " : "HTTP/1.1 ");
  out.append(std::to_string(status));
  out.push_back(' ');
  out.append(http::reasonPhrase(status));
  out.append("\r\nDate: ").append(http::httpDate()).append("\r\n");
  if (!location.empty()) out.append("Location: ").append(location).append("\r\n");
  if (retry_after_s_ > 0) {
    out.append("Retry-After: ").append(std::to_string(retry_after_s_)).append("\r\n");
    retry_after_s_ = 0;
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
  if (!client_keep_alive_) {
    out.append("Connection: close\r\n");
  } else if (client_http10_) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
  if (!head_request_ && !no_body) {
    out.append(body);
    response_body_bytes_ = body.size();
  }
  if (request_done_) endExchange();
}

void DownstreamSession::endExchange() {
  if (phase_ != Phase::Exchange) return;
  logExchange();
  retireUpstream();
  upstream_timer_.stop();
  const bool keep = client_keep_alive_ && !upgrade_paused_ && !ctx_.draining() && request_done_;
  resetExchange();
  if (!keep) {
    closeAfterFlush();
    return;
  }
  phase_ = Phase::WaitRequest;
  request_paused_ = false;
  request_parser_.resume();
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

// Frees what an idle connection does not need: string capacity from the last exchange and the
// parsed head.
void DownstreamSession::compact() {
  std::string().swap(client_out_);
  std::string().swap(upstream_out_);
  std::string().swap(request_head_);
  std::string().swap(replay_body_);
  std::string().swap(rewritten_target_);
  std::string().swap(request_id_);
  if (pending_.empty()) std::string().swap(pending_);
  request_parser_.compact();
}

void DownstreamSession::resetExchange() {
  if (cluster_ && budget_counted_) cluster_->retryBudget().requestFinished();
  if (cluster_ && retry_counted_) cluster_->retryBudget().retryFinished();
  budget_counted_ = retry_counted_ = false;
  retries_done_ = 0;
  last_failure_.clear();
  retry_status_ = 0;
  sent_upstream_ = false;
  snapshot_.reset();
  route_ = nullptr;
  route_view_ = nullptr;
  rewritten_target_.clear();
  cluster_.reset();
  endpoint_.reset();
  route_index_.reset();
  upstream_reused_ = false;
  upstream_eof_ = false;
  retried_stale_ = false;
  request_head_.clear();
  replay_body_.clear();
  upstream_out_.clear();
  replayable_ = true;
  request_framing_ = http::Framing::None;
  response_framing_ = http::Framing::None;
  head_seen_ = false;
  request_done_ = false;
  response_started_ = false;
  response_done_ = false;
  informational_ = false;
  tunnel_ = false;
  discard_body_ = false;
  head_request_ = false;
  idempotent_ = false;
  logged_ = false;
  status_ = 0;
  upstream_status_ = 0;
  upstream_bytes_in_ = 0;
  request_body_bytes_ = 0;
  response_body_bytes_ = 0;
  upstream_addr_.clear();
  request_id_.clear();
}

void DownstreamSession::logExchange() {
  if (logged_ || !head_seen_) return;
  logged_ = true;
  const http::MessageHead& h = request_parser_.head();
  auto header = [&](std::string_view name) -> std::string_view {
    const std::string* v = h.find(name);
    return v ? std::string_view(*v) : std::string_view();
  };
  AccessRecord r;
  r.remote_addr = client_ip_;
  r.method = h.method;
  r.target = h.target;
  r.protocol = h.isHttp10() ? "HTTP/1.0" : "HTTP/1.1";
  r.status = status_;
  r.bytes_sent = response_body_bytes_;
  r.referer = header("referer");
  r.user_agent = header("user-agent");
  r.upstream_addr = upstream_addr_;
  r.upstream_status = upstream_status_;
  const uint64_t elapsed_us = (uv_hrtime() - start_ns_) / 1000;
  r.request_time_s = static_cast<double>(elapsed_us) / 1e6;
  r.request_id = request_id_;
  ctx_.accessLog().append(r);

  WorkerTotals& totals = ctx_.totals();
  ++totals.traffic.requests;
  totals.traffic.response(status_);
  totals.latency.observe(elapsed_us);
  if (ListenerStats* ls = ctx_.listenerStats(listener_name_)) {
    ++ls->traffic.requests;
    ls->traffic.response(status_);
    if (route_index_ && snapshot_ == ctx_.snapshot() && *route_index_ < ls->routes.size()) {
      TrafficCounters& route = ls->routes[*route_index_];
      ++route.requests;
      route.response(status_);
    }
  }
}

void DownstreamSession::countFailure(FailureReason reason) { ctx_.totals().fail(reason); }

void DownstreamSession::finishAttempt(bool ok) {
  if (!endpoint_ || !cluster_) return;
  const auto latency = std::chrono::microseconds((uv_hrtime() - attempt_start_ns_) / 1000);
  cluster_->onFinish(*endpoint_, latency, ok);
  if (ok) endpoint_->traffic.response(upstream_status_);
  if (const auto& passive = cluster_->config().passive) {
    bool failed = !ok;
    for (int s : passive->failure_statuses)
      if (ok && upstream_status_ == s) failed = true;
    if (failed || endpoint_->last_failed)
      ctx_.reportPassive(cluster_->config().name, endpoint_->ep.name, failed);
    endpoint_->last_failed = failed;
  }
  endpoint_.reset();
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
  if (upstream_out_.empty() || !upstreamOpen()) return;
  sent_upstream_ = true;
  if (upstream_->tls) {
    upstream_->tls->write(upstream_out_);
    upstream_out_.clear();
    upstream_->tls->takeOutput(upstream_out_);
  }
  if (!upstream_->stream.write(std::string_view(upstream_out_))) {
    upstream_out_.clear();
    onUpstreamEnd(UV_EPIPE);
    return;
  }
  upstream_out_.clear();
}

void DownstreamSession::updateFlow() {
  if (phase_ == Phase::Closed) return;
  // Client side: pause while the upstream has too much to write, or too much is pipelined. With
  // TLS to the server, what its session holds counts too: writes before the handshake completes
  // wait there, and a server slow to answer the ClientHello must not make us buffer the body.
  size_t backlog = upstream_out_.size();
  if (upstream_) {
    backlog += upstream_->stream.queuedBytes();
    if (upstream_->tls) backlog += upstream_->tls->bufferedBytes();
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
    if (phase_ == Phase::Exchange && !request_done_ && head_seen_ && snapshot_)
      client_timer_.start(snapshot_->config->timeouts.client_body, [this] { onBodyTimeout(); });
  } else if (!want && client_.reading()) {
    client_.stopRead();
    if (phase_ == Phase::Exchange && !request_done_) client_timer_.stop();
  }
  // Upstream side: pause while the client has too much to receive.
  if (upstreamOpen()) {
    const size_t queued = client_.queuedBytes() + (tls_ ? tls_->bufferedBytes() : 0);
    if (upstream_->stream.reading() && queued > kHighWater) {
      upstream_->stream.stopRead();
    } else if (!upstream_->stream.reading() && queued < kLowWater) {
      upstream_->stream.startRead();
    }
  }
}

void DownstreamSession::closeAfterFlush() {
  if (phase_ == Phase::Closed || phase_ == Phase::Closing) return;
  // Lingering is needed only when the client may still be sending: an unfinished request or
  // pipelined bytes. Otherwise the connection just closes once the response is out.
  phase_ = Phase::Closing;
  client_timer_.stop();
  upstream_timer_.stop();
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
  upstream_timer_.stop();
  retireUpstream();
  client_.close();
  ctx_.sessionClosed(this);
}

}  // namespace weir::proxy
