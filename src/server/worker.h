// Worker: one thread, one event loop. Owns its listening sockets (SO_REUSEPORT copies), client
// sessions, upstream clusters (pools and balancers) and access-log buffer. Other threads talk
// to it only through post() (its loop's Mailbox).
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "net/event_loop.h"
#include "net/timer.h"
#include "proxy/downstream_session.h"
#include "proxy/worker_context.h"

namespace weir::server {

class Worker final : public proxy::WorkerContext {
 public:
  /// `listen_fds[i]` is this worker's socket for snapshot->listeners[i].
  Worker(int id, std::shared_ptr<const proxy::Snapshot> snapshot, std::vector<int> listen_fds,
         const proxy::AccessLogFile* access_log, std::atomic<uint64_t>* open_connections);
  ~Worker() override;

  void start();  // spawns the thread
  void join();
  /// Thread-safe: stop accepting, finish exchanges in flight within the grace period, exit.
  void shutdown(std::chrono::milliseconds grace);

  // proxy::WorkerContext
  net::EventLoop& loop() override { return loop_; }
  const std::shared_ptr<const proxy::Snapshot>& snapshot() const override { return snapshot_; }
  upstream::Cluster& cluster(size_t index) override { return *clusters_[index]; }
  proxy::AccessLog& accessLog() override { return access_log_; }
  proxy::WorkerStats& stats() override { return stats_; }
  proxy::RequestIdGenerator& requestIds() override { return request_ids_; }
  bool draining() const override { return draining_; }
  void sessionClosed(proxy::DownstreamSession* session) override;

 private:
  struct Listener {
    Worker* worker;
    size_t index;
    uv_tcp_t* handle;
  };
  void run();
  void onConnection(Listener& listener);
  void beginShutdown(std::chrono::milliseconds grace);
  void finishIfDone();

  int id_;
  net::EventLoop loop_;
  std::shared_ptr<const proxy::Snapshot> snapshot_;
  std::vector<int> listen_fds_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::unique_ptr<upstream::Cluster>> clusters_;
  std::unordered_map<proxy::DownstreamSession*, std::unique_ptr<proxy::DownstreamSession>>
      sessions_;
  proxy::AccessLog access_log_;
  proxy::WorkerStats stats_;
  proxy::RequestIdGenerator request_ids_;
  std::atomic<uint64_t>* open_connections_;
  uv_check_t* flush_check_ = nullptr;
  std::unique_ptr<net::Timer> grace_timer_;
  bool draining_ = false;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace weir::server
