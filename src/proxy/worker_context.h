// WorkerContext: what a worker offers the sessions it runs: its loop, the current snapshot, its
// clusters, its access log and stats. Implemented by server::Worker; one worker thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "balance/rng.h"
#include "core/histogram.h"
#include "core/traffic.h"
#include "net/event_loop.h"
#include "proxy/access_log.h"
#include "proxy/snapshot.h"
#include "upstream/cluster.h"

namespace weir::proxy {

class DownstreamSession;

/// A worker's totals. Plain counters: only the worker writes them; copies go to the control
/// thread through its mailbox.
struct WorkerTotals {
  uint64_t connections_accepted = 0;
  uint64_t connections_rejected = 0;  // over limits.max_connections
  uint64_t connections_open = 0;
  /// Client TLS handshakes that failed, by OpenSSL's reason ("http request", "unsupported
  /// protocol", "no shared cipher", "certificate verify failed"...): a short, bounded set.
  std::map<std::string, uint64_t> tls_handshake_failures;
  TrafficCounters traffic;
  FailureCounters failures{};
  LatencyHistogram latency;  // request head to response end
  void fail(FailureReason r) { ++failures[static_cast<size_t>(r)]; }
};

/// Per listener (by name) and per route (by index in the current snapshot's listener).
struct ListenerStats {
  std::string name;
  uint64_t connections = 0;
  TrafficCounters traffic;
  std::vector<TrafficCounters> routes;
};

/// Random 128-bit request ids as 32 hex characters, per worker (balance::Rng: fast and well
/// mixed; ids need to be unique, not secret).
class RequestIdGenerator {
 public:
  explicit RequestIdGenerator(uint64_t seed) : rng_(seed) {}
  void next(char out[32]);
  uint64_t random() { return rng_.next(); }

 private:
  balance::Rng rng_;
};

class WorkerContext {
 public:
  virtual ~WorkerContext() = default;
  virtual net::EventLoop& loop() = 0;
  virtual const std::shared_ptr<const Snapshot>& snapshot() const = 0;
  /// This worker's runtime of `snap.upstreams[index]` (found by name when `snap` is not the
  /// current snapshot); null when the upstream no longer exists.
  virtual std::shared_ptr<upstream::Cluster> cluster(const Snapshot& snap, size_t index) = 0;
  virtual AccessLog& accessLog() = 0;
  virtual WorkerTotals& totals() = 0;
  /// Counters of the listener named `name`; null when it is not in the current snapshot.
  /// Do not keep the pointer across events: a reload replaces the table.
  virtual ListenerStats* listenerStats(std::string_view name) = 0;
  virtual RequestIdGenerator& requestIds() = 0;
  /// A real request to `server` failed (or succeeded after a failure): for outlier detection.
  virtual void reportPassive(const std::string& upstream, const std::string& server,
                             bool failed) = 0;
  /// True once shutdown began: finish the exchange in flight, then close.
  virtual bool draining() const = 0;
  /// The session closed; the worker forgets it and frees it at a safe point.
  virtual void sessionClosed(DownstreamSession* session) = 0;
};

}  // namespace weir::proxy
