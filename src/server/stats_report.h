// StatsReport: a copy of one worker's counters, or of all of them merged, made on request and
// handed to the control thread (no counter is ever read across threads). Plain value.
#pragma once

#include <string>
#include <vector>

#include "core/histogram.h"
#include "core/traffic.h"
#include "proxy/worker_context.h"

namespace weir::server {

struct ServerReport {
  std::string address;
  std::string state;  // enabled | draining | disabled
  int weight = 1;
  bool backup = false;
  uint64_t in_flight = 0;
  uint64_t idle_connections = 0;
  TrafficCounters traffic;
  uint64_t failures = 0;
  uint64_t connect_failures = 0;
  LatencyHistogram latency;
};

struct UpstreamReport {
  std::string name;
  std::vector<ServerReport> servers;
};

struct ListenerReport {
  std::string name;
  std::string address;
  uint64_t connections = 0;
  TrafficCounters traffic;
  std::vector<TrafficCounters> routes;  // by route index
};

struct StatsReport {
  proxy::WorkerTotals totals;
  std::vector<ListenerReport> listeners;
  std::vector<UpstreamReport> upstreams;

  /// Adds `other` (another worker's report of the same config) into this one, by name.
  void merge(const StatsReport& other);
};

}  // namespace weir::server
