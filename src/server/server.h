// Server: the control thread. Builds the snapshot, opens every listening socket (one
// SO_REUSEPORT copy per worker), starts the workers, and handles signals: SIGTERM/SIGINT drain
// and exit, SIGUSR1 reopens log files. Lives on the main thread.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "config/config.h"
#include "net/event_loop.h"
#include "proxy/access_log.h"
#include "server/worker.h"

namespace weir::server {

class Server {
 public:
  explicit Server(std::shared_ptr<const config::Config> config);
  ~Server();
  /// Serves until SIGTERM/SIGINT and the drain that follows; returns the exit code.
  int run();

 private:
  bool openListeners(const proxy::Snapshot& snapshot, size_t workers,
                     std::vector<std::vector<int>>& fds);
  void onSignal(int signum);

  std::shared_ptr<const config::Config> config_;
  net::EventLoop loop_;
  std::unique_ptr<proxy::AccessLogFile> access_log_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<uv_signal_t*> signals_;
  std::atomic<uint64_t> open_connections_{0};
  bool stopping_ = false;
  std::thread joiner_;  // waits for the workers after a shutdown signal
};

}  // namespace weir::server
