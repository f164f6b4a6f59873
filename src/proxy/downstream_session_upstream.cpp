// The upstream half of DownstreamSession: choosing and connecting to a server, sending the
// request, retries, reading the response and handing it to the client, tunnels after 101.
// The client half, the session's lifetime and flow control are in downstream_session.cpp.
#include <uv.h>

#include <algorithm>
#include <cctype>

#include "balance/hash.h"
#include "core/log.h"
#include "health/retry_policy.h"
#include "proxy/downstream_session.h"
#include "proxy/downstream_session_exchange.h"
#include "proxy/request_key.h"
#include "routing/request_view.h"

namespace weir::proxy {
namespace {

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

}  // namespace

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
  // HTTP/1.1 requires Host; an HTTP/1.0 request may come without one. Like nginx's default
  // ($proxy_host), the upstream's name stands in when it can be a host name.
  const std::string& name = ex().cluster->config().name;
  if (host.empty() && req.isHttp10() && !req.find(http::HeaderId::Host) &&
      std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
      }))
    info.host = name;
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
  ex().unsent_response_at = client_out_.size();
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
    if (ex().unsent_response_at == std::string::npos) {
      closeNow();  // the client has part of the response: only closing tells it
      return;
    }
    client_out_.resize(ex().unsent_response_at);  // nothing sent yet: answer 502 instead
    ex().response_body_bytes = 0;
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

// The request's share of its cluster's retry budget ends (once).
void DownstreamSession::settleRetryBudget() {
  Exchange& x = ex();
  if (x.cluster && x.budget_counted) x.cluster->retryBudget().requestFinished();
  if (x.cluster && x.retry_counted) x.cluster->retryBudget().retryFinished();
  x.budget_counted = x.retry_counted = false;
}

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

}  // namespace weir::proxy
