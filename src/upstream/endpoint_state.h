// EndpointState: one upstream server as one worker sees it: address, runtime state set by the
// admin API, requests in flight, idle keep-alive connections and traffic counters. Owned by its
// Cluster and shared with the exchanges using it, so that a reload removing the server lets them
// finish. One worker thread only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/histogram.h"
#include "core/traffic.h"
#include "net/socket_address.h"
#include "upstream/upstream_connection.h"

namespace weir::upstream {

struct Endpoint {
  net::SocketAddress address;
  std::string name;  // as configured, e.g. "127.0.0.1:9001"
  int weight = 1;
  bool backup = false;
  uint32_t max_conns = 0;  // per worker; 0 = no cap
};

/// Runtime state set through the admin API; survives reloads that keep the server.
enum class AdminState : uint8_t { Enabled, Draining, Disabled };
std::string_view adminStateName(AdminState s);

struct EndpointState {
  Endpoint ep;
  size_t index = 0;      // position in the cluster's current list
  bool removed = false;  // gone from the config: in-flight exchanges finish, nothing new
  AdminState admin = AdminState::Enabled;
  int weight = 1;  // effective weight (config, or admin override)
  bool weight_overridden = false;
  uint32_t in_flight = 0;
  uint64_t available_since_ms = 0;  // when it last became available (slow start)
  bool healthy = true;              // per the control thread's HealthView
  bool last_failed = false;         // the last exchange failed (passive checks)
  std::vector<std::unique_ptr<UpstreamConnection>> idle;  // LIFO

  TrafficCounters traffic;
  uint64_t failures = 0;          // exchanges that failed on this server (any reason)
  uint64_t connect_failures = 0;  // refused, unreachable or timed out while connecting
  LatencyHistogram latency;       // request start to response end, for completed exchanges

  bool available() const { return healthy && usable(); }
  /// Available but for health: what panic mode falls back to.
  bool usable() const {
    return !removed && admin == AdminState::Enabled &&
           (ep.max_conns == 0 || in_flight < ep.max_conns);
  }
};

}  // namespace weir::upstream
