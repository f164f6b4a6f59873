// Dashboard: the admin endpoint's web page and what feeds it. Serves the page and its embedded
// files, GET /stats/history (the last 15 minutes, one sample a second) and GET /events (the
// newest sample every second as server-sent events). While running, a 1 s timer on the control
// loop gathers the workers' counters (Server::collectStats), so the request path pays nothing.
// Lives on the control thread; owned by AdminApi, which must outlive the loop's run.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "admin/admin_session.h"
#include "admin/events.h"
#include "admin/history.h"
#include "net/timer.h"
#include "server/server.h"

namespace weir::admin {

class Dashboard {
 public:
  static constexpr std::chrono::milliseconds kInterval{1'000};
  /// The page's Content-Security-Policy: nothing but this origin, no inline script or style.
  static constexpr std::string_view kContentSecurityPolicy =
      "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; "
      "script-src 'self'";

  explicit Dashboard(server::Server& server);
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  /// Starts sampling (idempotent). The loop must be running or about to run.
  void start();
  /// Closes the timer and ends every event stream, so that the loop can end. Idempotent.
  void stop();
  bool running() const { return timer_ != nullptr; }

  /// Sampling runs while a returned lease lives: the first lease starts it, dropping the last
  /// one stops it.
  std::shared_ptr<void> lease();

  /// Answers a GET or HEAD for the dashboard's paths: "/" and "/dashboard" (the page; AdminApi
  /// sends "/" here only for clients that ask for HTML), its files, /stats/history and /events.
  /// False (nothing sent) for any other path. `path` is the target without its query.
  bool handle(const AdminRequest& request, std::string_view path, std::string_view query,
              const Reply& reply);

  /// The newest samples, for tests and /stats/history.
  const HistoryRing& history() const { return history_; }

 private:
  void onTick();
  void onReport(const server::StatsReport& report);
  nlohmann::ordered_json statusJson() const;
  void serveHistory(std::string_view query, const Reply& reply);
  void serveEvents(const AdminRequest& request, std::string_view query, const Reply& reply);
  std::string eventFor(const Sample& sample) const;

  server::Server& server_;
  HistoryRing history_;
  SampleBuilder builder_;
  EventStreams streams_;
  std::unique_ptr<net::Timer> timer_;
  std::shared_ptr<bool> alive_;  // false once stopped: late collectStats answers are dropped
  std::weak_ptr<void> lease_;
  bool collecting_ = false;
};

/// The value of `name` in a query string ("a=1&since=5" -> "5"), not decoded; none if absent.
std::optional<std::string_view> queryParam(std::string_view query, std::string_view name);

}  // namespace weir::admin
