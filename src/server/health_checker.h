// HealthChecker: active health checks and outlier ejection for every upstream server, once per
// process on the control thread. Publishes the combined result as an immutable HealthView
// (workers exclude unhealthy servers) and reports every state change (alerts, logs, stats).
// Control thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "alerts/alert.h"
#include "health/health_state.h"
#include "health/health_view.h"
#include "health/outlier_detector.h"
#include "net/event_loop.h"
#include "net/tcp_stream.h"
#include "net/timer.h"
#include "proxy/snapshot.h"

namespace weir::server {

class HealthChecker {
 public:
  using ChangeSink = std::function<void(alerts::StateChange)>;
  using PublishSink = std::function<void(std::shared_ptr<const health::HealthView>)>;

  HealthChecker(net::EventLoop& loop, ChangeSink on_change, PublishSink publish);
  ~HealthChecker();

  /// Adopts the servers and checks of `snapshot`: servers kept with the same check keep their
  /// state; new ones start per `initial_state`; removed ones stop. Publishes a view.
  void configure(std::shared_ptr<const proxy::Snapshot> snapshot);
  /// A real request to `server` of `upstream` failed (or, after a failure, succeeded).
  void onPassiveResult(const std::string& upstream, const std::string& server, bool failed);
  std::shared_ptr<const health::HealthView> view() const { return view_; }
  /// "healthy", "unhealthy", "ejected" or "unknown" (no checks), for the admin endpoint.
  std::string stateOf(const std::string& upstream, const std::string& server) const;
  void close();

 private:
  struct Probe;
  struct Pool;  // one upstream's servers
  void schedule(Probe& p, uint64_t delay_ms);
  void run(Probe& p);
  void finish(Probe& p, bool passed, const std::string& why);
  void publish();
  void expireEjections();
  void change(const std::string& upstream, const std::string& server, const std::string& from,
              const std::string& to, const std::string& reason, bool alert = true);

  net::EventLoop& loop_;
  ChangeSink on_change_;
  PublishSink publish_;
  std::shared_ptr<const proxy::Snapshot> snapshot_;
  std::vector<std::unique_ptr<Pool>> pools_;
  std::shared_ptr<const health::HealthView> view_;
  uint64_t generation_ = 0;
  net::Timer expiry_timer_;
  std::mt19937_64 rng_;
};

}  // namespace weir::server
