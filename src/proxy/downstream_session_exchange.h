// DownstreamSession::Exchange, shared by the two halves of DownstreamSession:
// downstream_session.cpp (the client side) and downstream_session_upstream.cpp (the upstream
// attempt, retries and the response). Private to those two files.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "proxy/downstream_session.h"
#include "upstream/upstream_connection.h"

namespace weir::proxy {

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
  // Where this response's head starts in client_out_ while none of it has been sent (npos once
  // flushed): an upstream failure before then still becomes a clean 502.
  size_t unsent_response_at = std::string::npos;
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

}  // namespace weir::proxy
