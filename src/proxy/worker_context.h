// WorkerContext: what a worker offers the sessions it runs: its loop, the current snapshot, its
// clusters, its access log and stats. Implemented by server::Worker; one worker thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "net/event_loop.h"
#include "proxy/access_log.h"
#include "proxy/snapshot.h"
#include "upstream/cluster.h"

namespace weir::proxy {

class DownstreamSession;

/// Per-worker counters: one writer (the worker), relaxed atomics for readers elsewhere.
struct WorkerStats {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_rejected{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> upstream_connect_failures{0};
  void add(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
};

/// Random 128-bit request ids as 32 hex characters (xoshiro-style generator, per worker).
class RequestIdGenerator {
 public:
  explicit RequestIdGenerator(uint64_t seed) : rng_(seed) {}
  void next(char out[32]);

 private:
  std::mt19937_64 rng_;
};

class WorkerContext {
 public:
  virtual ~WorkerContext() = default;
  virtual net::EventLoop& loop() = 0;
  virtual const std::shared_ptr<const Snapshot>& snapshot() const = 0;
  /// This worker's runtime of snapshot()->upstreams[index].
  virtual upstream::Cluster& cluster(size_t index) = 0;
  virtual AccessLog& accessLog() = 0;
  virtual WorkerStats& stats() = 0;
  virtual RequestIdGenerator& requestIds() = 0;
  /// True once shutdown began: finish the exchange in flight, then close.
  virtual bool draining() const = 0;
  /// The session closed; the worker forgets it and frees it at a safe point.
  virtual void sessionClosed(DownstreamSession* session) = 0;
};

}  // namespace weir::proxy
