// Cluster: one worker's runtime for one upstream: its endpoints, balancer and per-endpoint pools
// of idle keep-alive connections. Created and used on one worker thread only; no locks.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "balance/balancer.h"
#include "config/config.h"
#include "net/socket_address.h"
#include "net/timer.h"
#include "upstream/upstream_connection.h"

namespace weir::upstream {

struct Endpoint {
  net::SocketAddress address;
  std::string name;  // as configured, e.g. "127.0.0.1:9001"
  int weight = 1;
};

class Cluster : private net::TcpStream::Handler {
 public:
  Cluster(net::EventLoop& loop, const config::Upstream& config, std::vector<Endpoint> endpoints,
          uint64_t seed);
  ~Cluster() override;

  const config::Upstream& config() const { return config_; }
  const Endpoint& endpoint(size_t i) const { return endpoints_[i]; }
  size_t size() const { return endpoints_.size(); }

  /// Picks an endpoint not in `tried`; nullopt when every endpoint was tried.
  std::optional<size_t> pick(const balance::EndpointSet& tried);

  /// An idle connection to endpoint `i`, or nullptr. The caller becomes its handler.
  std::unique_ptr<UpstreamConnection> takeIdle(size_t i);
  /// Keeps `conn` for reuse when the pool has room, else closes it.
  void release(std::unique_ptr<UpstreamConnection> conn);
  /// Closes every idle connection (shutdown).
  void closeIdle();

  http::ParseLimits parseLimits() const { return limits_; }

 private:
  void onRead(net::TcpStream& s, const char*, size_t) override { drop(s); }
  void onReadEnd(net::TcpStream& s, int) override { drop(s); }
  void onWritten(net::TcpStream&, int) override {}
  void drop(net::TcpStream& stream);
  void sweep();

  net::EventLoop& loop_;
  const config::Upstream& config_;
  std::vector<Endpoint> endpoints_;
  std::unique_ptr<balance::Balancer> balancer_;
  std::vector<std::vector<std::unique_ptr<UpstreamConnection>>> idle_;  // per endpoint, LIFO
  net::Timer sweep_timer_;
  http::ParseLimits limits_;
};

}  // namespace weir::upstream
