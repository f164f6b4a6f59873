// UpstreamConnection: one TCP connection to an upstream server with its response parser.
// Owned by a ConnectionPool while idle and by one DownstreamSession while in use; one worker.
#pragma once

#include <cstdint>
#include <memory>

#include "http/parser.h"
#include "net/tcp_stream.h"
#include "tls/tls_session.h"

namespace weir::upstream {

struct EndpointState;

struct UpstreamConnection {
  UpstreamConnection(net::EventLoop& loop, std::shared_ptr<EndpointState> to,
                     http::ParseLimits limits)
      : stream(loop),
        parser(http::HttpParser::Mode::Response, nullptr, limits),
        endpoint(std::move(to)) {}

  net::TcpStream stream;
  http::HttpParser parser;
  std::shared_ptr<EndpointState> endpoint;
  std::unique_ptr<tls::TlsSession> tls;  // TLS to the server, when the upstream uses it
  uint64_t idle_since_ms = 0;
  uint32_t requests = 0;  // requests sent on this connection so far
};

}  // namespace weir::upstream
