// Worker: one thread, one event loop. Owns its listening sockets (SO_REUSEPORT copies), client
// sessions, upstream clusters (pools and balancers), counters and access-log buffer. Other
// threads talk to it only through post() (its loop's mailbox): adopt a new snapshot, report
// counters, change a server's runtime state, shut down.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "health/health_view.h"
#include "net/event_loop.h"
#include "net/timer.h"
#include "proxy/downstream_session.h"
#include "proxy/worker_context.h"
#include "server/stats_report.h"

namespace weir::server {

/// Listening sockets handed to a worker, by listener name.
using ListenFds = std::map<std::string, int>;

class Worker final : public proxy::WorkerContext {
 public:
  Worker(int id, std::shared_ptr<const proxy::Snapshot> snapshot, ListenFds fds,
         const proxy::AccessLogFile* access_log, std::atomic<uint64_t>* open_connections);
  ~Worker() override;

  void start();  // spawns the thread
  void join();
  /// Runs `fn` on this worker's thread.
  void post(std::function<void(Worker&)> fn);
  /// Thread-safe: stop accepting, finish exchanges in flight within the grace period, exit.
  void shutdown(std::chrono::milliseconds grace);
  /// Thread-safe: switch to `snapshot`. `fds` are this worker's sockets for listeners it does
  /// not have yet; listeners absent from the snapshot stop accepting.
  void adopt(std::shared_ptr<const proxy::Snapshot> snapshot, ListenFds fds);

  /// Thread-safe: the control thread's latest health verdicts.
  void applyHealth(std::shared_ptr<const health::HealthView> view);
  /// Where passive results go (called on this worker's thread; must post to the control loop).
  using PassiveSink = std::function<void(std::string upstream, std::string server, bool failed)>;
  void setPassiveSink(PassiveSink sink) { passive_sink_ = std::move(sink); }

  // Worker thread only.
  StatsReport report() const;
  upstream::Cluster* findCluster(std::string_view name);

  // proxy::WorkerContext
  net::EventLoop& loop() override { return loop_; }
  const std::shared_ptr<const proxy::Snapshot>& snapshot() const override { return snapshot_; }
  std::shared_ptr<upstream::Cluster> cluster(const proxy::Snapshot& snap, size_t index) override;
  proxy::AccessLog& accessLog() override { return access_log_; }
  proxy::WorkerTotals& totals() override { return totals_; }
  proxy::ListenerStats* listenerStats(std::string_view name) override;
  proxy::RequestIdGenerator& requestIds() override { return request_ids_; }
  bool draining() const override { return draining_; }
  void reportPassive(const std::string& upstream, const std::string& server, bool failed) override {
    if (passive_sink_) passive_sink_(upstream, server, failed);
  }
  void sessionClosed(proxy::DownstreamSession* session) override;

 private:
  struct Listener {
    Worker* worker;
    std::string name;
    uv_tcp_t* handle;
  };
  void run();
  void openListener(const std::string& name, int fd);
  void applySnapshot(std::shared_ptr<const proxy::Snapshot> snapshot, ListenFds fds);
  void onConnection(Listener& listener);
  void beginShutdown(std::chrono::milliseconds grace);
  void finishIfDone();

  int id_;
  net::EventLoop loop_;
  std::shared_ptr<const proxy::Snapshot> snapshot_;
  ListenFds initial_fds_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::shared_ptr<upstream::Cluster>> clusters_;  // by snapshot_->upstreams index
  std::vector<proxy::ListenerStats> listener_stats_;
  std::unordered_map<proxy::DownstreamSession*, std::unique_ptr<proxy::DownstreamSession>>
      sessions_;
  proxy::AccessLog access_log_;
  proxy::WorkerTotals totals_;
  proxy::RequestIdGenerator request_ids_;
  std::atomic<uint64_t>* open_connections_;
  uint64_t seed_;
  uv_check_t* flush_check_ = nullptr;
  std::unique_ptr<net::Timer> grace_timer_;
  bool draining_ = false;
  bool finished_ = false;
  std::shared_ptr<const health::HealthView> health_;
  PassiveSink passive_sink_;
  std::thread thread_;
};

}  // namespace weir::server
