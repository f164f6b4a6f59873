// DownstreamSession: one client connection and the exchange in flight on it (one request at a
// time; pipelined requests wait, parsed, in order). Drives both parsers, the upstream attempt
// and retries, body streaming with backpressure, tunnels after 101, timeouts and the access log.
// Owned by its Worker; lives on that worker's thread; freed only at a safe point (deferDelete).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "balance/balancer.h"
#include "health/retry_policy.h"
#include "http/parser.h"
#include "http/proxy_headers.h"
#include "net/tcp_stream.h"
#include "net/timer.h"
#include "proxy/worker_context.h"
#include "tls/tls_session.h"

namespace weir::proxy {

class DownstreamSession final : private net::TcpStream::Handler, private http::HttpParser::Sink {
 public:
  /// `listener_index` is the listener's position in `ctx.snapshot()` when accepted.
  DownstreamSession(WorkerContext& ctx, size_t listener_index);
  ~DownstreamSession() override;

  /// Accepts the pending connection on `server` and starts reading. False when accept failed
  /// (the session is then closed already).
  bool start(uv_stream_t* server);
  /// Shutdown began: close now when idle, else after the exchange in flight.
  void drain();
  /// Closes at once (shutdown grace over).
  void abort() { closeNow(); }

 private:
  enum class Phase : uint8_t { WaitRequest, Exchange, Tunnel, Closing, Closed };

  // net::TcpStream::Handler: events of both streams, told apart by address.
  void onRead(net::TcpStream& s, const char* data, size_t len) override;
  void onReadEnd(net::TcpStream& s, int status) override;
  void onWritten(net::TcpStream& s, int status) override;
  void onConnected(net::TcpStream& s, int status) override;
  // http::HttpParser::Sink: events of both parsers, told apart by address.
  bool onHead(http::HttpParser& p) override;
  void onBody(http::HttpParser& p, const char* data, size_t len) override;
  void onMessageComplete(http::HttpParser& p) override;

  // Client side.
  void onClientRead(const char* data, size_t len);
  void onClientTls(const char* data, size_t len);
  void sendTlsOutput();
  void onUpstreamTls(const char* data, size_t len);
  void writeUpstream(std::string_view bytes);
  void onClientEnd(int status);
  size_t parseClientBytes(const char* data, size_t len);
  void drainPending();
  bool onRequestHead(http::HttpParser& p);
  void onRequestBody(const char* data, size_t len);
  void onRequestDone();
  void onRequestError();
  void onHeaderTimeout();
  void onBodyTimeout();

  // Upstream side.
  void startProxy(const http::MessageHead& req, std::string_view target, std::string_view host);
  /// Picks an untried server and connects; `reuse` allows an idle pooled connection.
  void connectAttempt(bool reuse = true);
  void onUpstreamConnected(int status);
  void onUpstreamReady();
  void onUpstreamRead(const char* data, size_t len);
  void onUpstreamEnd(int status);
  void onUpstreamTimeout();
  bool onResponseHead(http::HttpParser& p);
  void onResponseBody(const char* data, size_t len);
  void finishResponse(bool reusable);
  void failUpstream(int status, const std::string& reason);
  void retireUpstream();
  const config::Retries* retryConfig() const;
  std::chrono::milliseconds attemptTimeout() const;
  bool retriesOnStatus(int status) const;
  bool retry(health::Failure failure, int status, const std::string& why);
  health::RetryVerdict retryVerdict(health::Failure failure, int status) const;
  void enterTunnel();

  // Both.
  void localReply(int status, std::string_view body, const config::Respond* respond, bool close,
                  std::string_view location = {});
  void countFailure(FailureReason reason);
  void finishAttempt(bool ok);
  void endExchange();
  void resetExchange();
  void logExchange();
  void flushClient();
  void flushUpstream();
  void updateFlow();
  void closeAfterFlush();
  void startLinger();
  void armIdleTimer();
  void compact();
  void closeNow();
  bool upstreamOpen() const { return upstream_ && !upstream_connecting_; }

  WorkerContext& ctx_;
  const std::shared_ptr<const Snapshot> origin_;  // the config the connection arrived under
  const size_t origin_listener_;
  const std::string& listener_name_;
  net::TcpStream client_;
  std::unique_ptr<tls::TlsSession> tls_;  // TLS listeners: the client side's TLS
  http::HttpParser request_parser_;
  net::Timer client_timer_;
  net::Timer upstream_timer_;
  std::string client_ip_;
  Phase phase_ = Phase::WaitRequest;

  std::string pending_;       // client bytes read but not parsed yet (pipelining, upgrade)
  std::string client_out_;    // response bytes batched until the end of the current event
  std::string upstream_out_;  // request bytes not written upstream yet
  bool in_feed_ = false;
  bool request_paused_ = false;  // parser paused after a complete request
  bool upgrade_paused_ = false;  // parser stopped after an upgrade request
  bool head_started_ = false;    // bytes of the next request head have arrived
  bool client_eof_ = false;
  bool lingering_ = false;

  // The exchange in flight.
  std::shared_ptr<const Snapshot> snapshot_;  // keeps routes and clusters' config alive
  std::shared_ptr<upstream::Cluster> cluster_;
  std::shared_ptr<upstream::EndpointState> endpoint_;  // the server of the current attempt
  std::optional<size_t> route_index_;
  const config::Route* route_ = nullptr;        // the upstream route (points into snapshot_)
  const RouteView* route_view_ = nullptr;       // likewise
  config::UpstreamTimeouts upstream_timeouts_;  // the route's, else the upstream's
  std::string rewritten_target_;
  uint32_t retries_done_ = 0;
  std::string last_failure_;     // why the last attempt failed, for the final 502's log line
  int retry_after_s_ = 0;        // Retry-After on the next local reply
  int retry_status_ = 0;         // a 5xx being discarded for a retry
  bool sent_upstream_ = false;   // bytes of this attempt were written upstream
  bool budget_counted_ = false;  // counted in the cluster's retry budget
  bool retry_counted_ = false;
  std::optional<uint64_t> hash_;  // request key for hashing policies
  std::string sticky_value_;      // the sticky cookie the request carried
  uint64_t attempt_start_ns_ = 0;
  std::unique_ptr<upstream::UpstreamConnection> upstream_;
  bool upstream_connecting_ = false;
  bool upstream_reused_ = false;
  bool upstream_eof_ = false;
  bool retried_stale_ = false;
  balance::EndpointSet tried_;
  std::string request_head_;  // as sent upstream, kept for a retry
  std::string replay_body_;   // body bytes as sent upstream while small enough to replay
  bool replayable_ = true;
  http::Framing request_framing_ = http::Framing::None;
  http::Framing response_framing_ = http::Framing::None;
  bool head_seen_ = false;
  bool request_done_ = false;
  bool response_started_ = false;
  bool response_done_ = false;
  bool informational_ = false;
  bool tunnel_ = false;
  bool discard_body_ = false;
  bool client_keep_alive_ = true;
  bool client_http10_ = false;
  bool head_request_ = false;
  bool idempotent_ = false;
  bool logged_ = false;
  int status_ = 0;
  int upstream_status_ = 0;
  uint64_t upstream_bytes_in_ = 0;
  uint64_t request_body_bytes_ = 0;
  uint64_t response_body_bytes_ = 0;
  uint64_t start_ns_ = 0;
  std::string upstream_addr_;
  std::string request_id_;
};

}  // namespace weir::proxy
