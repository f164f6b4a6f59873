// Cluster: one worker's runtime for one upstream: its endpoints, balancer and per-endpoint pools
// of idle keep-alive connections. Created and used on one worker thread only; no locks. A reload
// reconciles it in place (reconcile()), so unchanged servers keep their pools, counters and
// runtime state.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "balance/balancer.h"
#include "config/config.h"
#include "health/health_view.h"
#include "health/retry_policy.h"
#include "net/timer.h"
#include "tls/client_tls_context.h"
#include "upstream/endpoint_state.h"

namespace weir::upstream {

/// The resolved form of one configured upstream (part of an immutable Snapshot).
struct UpstreamView {
  const config::Upstream* config = nullptr;
  std::vector<Endpoint> endpoints;
  std::shared_ptr<const tls::ClientTlsContext> tls;  // TLS to the servers, when configured
};

class Cluster : private net::TcpStream::Handler {
 public:
  /// `keep` holds whatever owns `view` (the snapshot) alive as long as the cluster uses it.
  Cluster(net::EventLoop& loop, std::shared_ptr<const void> keep, const UpstreamView& view,
          uint64_t seed);
  ~Cluster() override;

  /// Adopts a new config of the same upstream: servers with the same name keep their state.
  void reconcile(std::shared_ptr<const void> keep, const UpstreamView& view);

  const config::Upstream& config() const { return *config_; }
  const std::vector<std::shared_ptr<EndpointState>>& endpoints() const { return endpoints_; }
  EndpointState* find(std::string_view name);

  /// Picks an available endpoint not in `tried` (`hash`: the request key for hashing
  /// policies); nullptr when there is none.
  std::shared_ptr<EndpointState> pick(const balance::EndpointSet& tried,
                                      std::optional<uint64_t> hash = std::nullopt);
  /// The endpoint a sticky cookie names, when it is still available.
  std::shared_ptr<EndpointState> findSticky(std::string_view cookie_value);
  /// The opaque cookie value naming `ep` (a keyed hash, never its address).
  std::string stickyValue(const EndpointState& ep) const;

  /// An idle connection to `ep`, or nullptr. The caller becomes its handler.
  std::unique_ptr<UpstreamConnection> takeIdle(EndpointState& ep);
  /// Keeps `conn` for reuse when its endpoint is still in use and the pool has room, else
  /// closes it.
  void release(std::unique_ptr<UpstreamConnection> conn);
  /// Closes every idle connection (shutdown, reload).
  void closeIdle();

  /// Exchange accounting, for least-loaded policies and the stats.
  void onStart(EndpointState& ep);
  void onFinish(EndpointState& ep, std::chrono::microseconds latency, bool ok);
  /// The client went away before the server answered: the exchange ends without saying
  /// anything of the server (no failure, no latency sample), but it is no longer in flight.
  void onAbandon(EndpointState& ep, std::chrono::microseconds elapsed);

  /// Runtime changes from the admin API. `weight` 0 restores the configured weight.
  void setAdminState(EndpointState& ep, AdminState state);
  void setWeight(EndpointState& ep, int weight);

  http::ParseLimits parseLimits() const { return limits_; }
  /// TLS to this upstream's servers; null when plain.
  const std::shared_ptr<const tls::ClientTlsContext>& tls() const { return tls_; }
  health::RetryBudget& retryBudget() { return retry_budget_; }
  /// The last pick found every usable server unhealthy and the upstream fails closed.
  bool panicked() const { return panicked_; }
  /// Adopts the control thread's health verdicts for this upstream's servers.
  void applyHealth(const health::HealthView& view);

 private:
  void onRead(net::TcpStream& s, const char* data, size_t len) override;
  void onReadEnd(net::TcpStream& s, int) override { drop(s); }
  void onWritten(net::TcpStream&, int) override {}
  void drop(net::TcpStream& stream);
  void sweep();
  void rebuildBalancer();
  void applySlowStart(uint64_t now_ms);
  void closeIdle(EndpointState& ep);

  net::EventLoop& loop_;
  std::shared_ptr<const void> keep_;
  const config::Upstream* config_;
  std::vector<std::shared_ptr<EndpointState>> endpoints_;
  std::unique_ptr<balance::Balancer> balancer_;
  balance::EndpointSet excluded_;  // scratch for pick(): tried + unavailable
  uint64_t seed_;
  std::shared_ptr<const tls::ClientTlsContext> tls_;
  bool ramping_ = false;
  bool panicked_ = false;
  health::RetryBudget retry_budget_;  // some endpoint is inside its slow-start window
  net::Timer sweep_timer_;
  http::ParseLimits limits_;
};

}  // namespace weir::upstream
