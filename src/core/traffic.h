// Plain traffic counters kept per worker (one writer, no atomics: workers hand copies to the
// control thread through its mailbox) and merged there for the admin endpoint.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace weir {

struct TrafficCounters {
  uint64_t requests = 0;
  std::array<uint64_t, 6> responses{};  // [status / 100]: 1xx..5xx; [0] unused
  uint64_t bytes_in = 0;                // request bytes received from clients
  uint64_t bytes_out = 0;               // response bytes sent to clients

  void response(int status) {
    int cls = status / 100;
    if (cls >= 1 && cls <= 5) ++responses[static_cast<size_t>(cls)];
  }
  void merge(const TrafficCounters& o) {
    requests += o.requests;
    for (size_t i = 0; i < responses.size(); ++i) responses[i] += o.responses[i];
    bytes_in += o.bytes_in;
    bytes_out += o.bytes_out;
  }
  uint64_t errors() const { return responses[5]; }
};

/// Why an exchange failed; counted per worker and shown by the admin endpoint.
enum class FailureReason : uint8_t {
  BadRequest,
  HeaderTooLarge,
  UriTooLong,
  BodyTooLarge,
  ClientTimeout,
  ClientClosed,
  NoRoute,
  NoServer,
  ConnectFailure,
  UpstreamTimeout,
  UpstreamReset,
  BadResponse,
  kCount,
};

constexpr std::string_view failureReasonName(FailureReason r) {
  switch (r) {
    case FailureReason::BadRequest:
      return "bad_request";
    case FailureReason::HeaderTooLarge:
      return "header_too_large";
    case FailureReason::UriTooLong:
      return "uri_too_long";
    case FailureReason::BodyTooLarge:
      return "body_too_large";
    case FailureReason::ClientTimeout:
      return "client_timeout";
    case FailureReason::ClientClosed:
      return "client_closed";
    case FailureReason::NoRoute:
      return "no_route";
    case FailureReason::NoServer:
      return "no_server";
    case FailureReason::ConnectFailure:
      return "connect_failure";
    case FailureReason::UpstreamTimeout:
      return "upstream_timeout";
    case FailureReason::UpstreamReset:
      return "upstream_reset";
    case FailureReason::BadResponse:
      return "bad_response";
    case FailureReason::kCount:
      break;
  }
  return "unknown";
}

using FailureCounters = std::array<uint64_t, static_cast<size_t>(FailureReason::kCount)>;

}  // namespace weir
