// DownstreamSession: one client connection and the exchange in flight on it (one request at a
// time; pipelined requests wait, parsed, in order). Drives both parsers, the upstream attempt
// and retries, body streaming with backpressure, tunnels after 101, timeouts and the access log.
// Owned by its Worker; lives on that worker's thread; freed only at a safe point (deferDelete).
// downstream_session.cpp holds the client side, the session's lifetime and flow control;
// downstream_session_upstream.cpp the upstream attempt, retries and the response.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

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
  /// Handles what the client sent before it was accepted (usually its first request), now
  /// rather than in the next loop iteration. Call once after start(); may close the session.
  void readArrived() { client_.readNow(); }
  /// Shutdown began: close now when idle, else after the exchange in flight.
  void drain();
  /// Closes at once (shutdown grace over).
  void abort() { closeNow(); }
  /// Frees the Exchanges this thread's sessions gave back. The worker calls it last, on its own
  /// thread, while its loop still runs (their timers close their handles).
  static void freePooledExchanges();

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
  void settleRetryBudget();
  void logExchange();
  void flushClient();
  void flushUpstream();
  void updateFlow();
  bool clientDoneSending() const;
  /// `client_finished`: the client asked to close and sent all it will (no lingering needed).
  void closeAfterFlush(bool client_finished = false);
  void startLinger();
  void armIdleTimer();
  void compact();
  void closeNow();
  bool upstreamOpen() const;

  WorkerContext& ctx_;
  const std::shared_ptr<const Snapshot> origin_;  // the config the connection arrived under
  const size_t origin_listener_;
  const std::string& listener_name_;
  net::TcpStream client_;
  std::unique_ptr<tls::TlsSession> tls_;  // TLS listeners: the client side's TLS
  net::Timer client_timer_;
  std::string client_ip_;
  Phase phase_ = Phase::WaitRequest;

  std::string pending_;     // client bytes read but not parsed yet (pipelining, upgrade)
  std::string client_out_;  // response bytes batched until the end of the current event
  bool in_feed_ = false;
  bool request_paused_ = false;  // parser paused after a complete request
  bool upgrade_paused_ = false;  // parser stopped after an upgrade request
  bool head_started_ = false;    // bytes of the next request head have arrived
  bool client_eof_ = false;
  bool lingering_ = false;
  bool quiet_close_ = false;  // closing without lingering (closeAfterFlush)

  struct Exchange;
  /// The exchange in flight, taken from the pool (or made) on first use.
  Exchange& ex() const {
    if (!ex_) [[unlikely]]
      acquireExchange();
    return *ex_;
  }
  void acquireExchange() const;
  void releaseExchange();
  /// Gives the (reset) Exchange to the pool, or frees it when the pool is full.
  void poolExchange();
  mutable std::unique_ptr<Exchange> ex_;
  static thread_local std::vector<std::unique_ptr<Exchange>> pool_;
};

}  // namespace weir::proxy
