// Server: the control thread. Loads and validates the config, builds snapshots, opens every
// listening socket (one SO_REUSEPORT copy per worker), starts the workers, and steers them:
// reload (SIGHUP), drain and exit (SIGTERM/SIGINT), reopen logs (SIGUSR1), gather counters.
// Lives on the main thread; every method runs on it.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "alerts/alert_sender.h"
#include "config/config.h"
#include "net/event_loop.h"
#include "net/timer.h"
#include "proxy/access_log.h"
#include "proxy/snapshot.h"
#include "server/health_checker.h"
#include "server/stats_report.h"
#include "server/systemd_notifier.h"
#include "server/worker.h"

namespace weir::server {

/// The outcome of one reload attempt.
struct ReloadResult {
  bool ok = false;
  uint64_t generation = 0;          // the generation serving after the attempt
  std::vector<std::string> errors;  // `FILE:LINE:COL: path: message` lines when !ok
  uint64_t at_unix_ms = 0;
};

class Server {
 public:
  explicit Server(std::shared_ptr<const config::Config> config);
  ~Server();
  /// Serves until SIGTERM/SIGINT and the drain that follows; returns the exit code.
  int run();

  /// Re-reads the config file; on any error the running config stays and the errors are
  /// returned (and logged). Control thread only.
  ReloadResult reload();
  /// Gathers every worker's counters; `done` runs on the control thread with the merged report.
  void collectStats(std::function<void(StatsReport)> done);
  /// Runs `fn` on every worker's thread.
  void forEachWorker(const std::function<void(Worker&)>& fn);

  /// Hooks for what else runs on the control loop (the admin endpoint): `on_start` once the
  /// workers run, `on_stop` when the process is about to exit (close every handle there).
  void setHooks(std::function<void(Server&)> on_start, std::function<void()> on_stop) {
    on_start_ = std::move(on_start);
    on_stop_ = std::move(on_stop);
  }
  /// Starts the drain-and-exit sequence (as SIGTERM does).
  void beginShutdown();

  net::EventLoop& loop() { return loop_; }
  std::shared_ptr<const config::Config> config() const { return config_; }
  uint64_t generation() const { return snapshot_ ? snapshot_->generation : 0; }
  const ReloadResult& lastReload() const { return last_reload_; }
  uint64_t reloadFailures() const { return reload_failures_; }
  bool ready() const { return ready_ && !stopping_; }
  /// Health state of a server for reports: healthy, unhealthy, ejected or unknown.
  std::string healthOf(const std::string& upstream, const std::string& server) const {
    return health_ ? health_->stateOf(upstream, server) : "unknown";
  }
  const alerts::AlertSender* alertSender() const { return alert_sender_.get(); }
  uint64_t startedAtUnixMs() const { return started_at_ms_; }

 private:
  bool openListeners(const proxy::Snapshot& snapshot, const proxy::Snapshot* previous,
                     std::vector<ListenFds>& fds);
  void onSignal(int signum);
  void configureAlerts();
  void configureWatch();
  ReloadResult attemptReload();

  std::shared_ptr<const config::Config> config_;
  std::shared_ptr<const proxy::Snapshot> snapshot_;
  net::EventLoop loop_;
  std::unique_ptr<proxy::AccessLogFile> access_log_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<uv_signal_t*> signals_;
  std::atomic<uint64_t> open_connections_{0};
  ReloadResult last_reload_;
  uint64_t reload_failures_ = 0;
  uint64_t reload_attempts_ = 0;
  std::string pid_file_;
  uint64_t started_at_ms_ = 0;
  bool ready_ = false;
  bool stopping_ = false;
  std::unique_ptr<SystemdNotifier> notifier_;
  std::unique_ptr<HealthChecker> health_;
  uv_fs_event_t* watch_ = nullptr;  // the config file's folder, when watch: true
  std::unique_ptr<net::Timer> watch_debounce_;
  std::unique_ptr<alerts::AlertSender> alert_sender_;
  std::function<void(Server&)> on_start_;
  std::function<void()> on_stop_;
  std::thread joiner_;  // waits for the workers after a shutdown signal
};

}  // namespace weir::server
