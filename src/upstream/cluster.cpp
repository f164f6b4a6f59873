#include "upstream/cluster.h"

#include <algorithm>

#include "balance/round_robin.h"

namespace weir::upstream {

Cluster::Cluster(net::EventLoop& loop, const config::Upstream& config,
                 std::vector<Endpoint> endpoints, uint64_t seed)
    : loop_(loop), config_(config), endpoints_(std::move(endpoints)), sweep_timer_(loop) {
  std::vector<int> weights;
  for (const auto& e : endpoints_) weights.push_back(e.weight);
  balancer_ = std::make_unique<balance::RoundRobin>(std::move(weights), seed);
  idle_.resize(endpoints_.size());
  limits_.max_head_bytes = 64 * 1024;
}

Cluster::~Cluster() { closeIdle(); }

std::optional<size_t> Cluster::pick(const balance::EndpointSet& tried) {
  balance::PickContext ctx;
  ctx.excluded = &tried;
  return balancer_->pick(ctx);
}

std::unique_ptr<UpstreamConnection> Cluster::takeIdle(size_t i) {
  auto& list = idle_[i];
  if (list.empty()) return nullptr;
  std::unique_ptr<UpstreamConnection> conn = std::move(list.back());
  list.pop_back();
  conn->stream.setHandler(nullptr);
  return conn;
}

void Cluster::release(std::unique_ptr<UpstreamConnection> conn) {
  auto& list = idle_[conn->endpoint];
  if (list.size() >= config_.keepalive.max_idle || !conn->stream.open()) {
    conn->stream.close();
    loop_.deferDelete(std::move(conn));
    return;
  }
  conn->idle_since_ms = loop_.now();
  conn->parser.setSink(nullptr);
  conn->parser.reset();
  conn->stream.setHandler(this);
  conn->stream.startRead();  // an idle connection that reads anything (or EOF) is dropped
  list.push_back(std::move(conn));
  if (!sweep_timer_.active()) {
    auto every = std::min<std::chrono::milliseconds>(config_.keepalive.idle_timeout,
                                                     std::chrono::milliseconds(1000));
    sweep_timer_.start(every, [this] { sweep(); });
  }
}

void Cluster::drop(net::TcpStream& stream) {
  for (auto& list : idle_) {
    for (auto it = list.begin(); it != list.end(); ++it) {
      if (&(*it)->stream != &stream) continue;
      (*it)->stream.close();
      loop_.deferDelete(std::move(*it));
      list.erase(it);
      return;
    }
  }
}

void Cluster::sweep() {
  const uint64_t now = loop_.now();
  const uint64_t limit = static_cast<uint64_t>(config_.keepalive.idle_timeout.count());
  bool any = false;
  for (auto& list : idle_) {
    auto keep = std::remove_if(list.begin(), list.end(), [&](auto& conn) {
      if (now - conn->idle_since_ms < limit) return false;
      conn->stream.close();
      loop_.deferDelete(std::move(conn));
      return true;
    });
    list.erase(keep, list.end());
    any = any || !list.empty();
  }
  if (any) sweep_timer_.restart(std::min<std::chrono::milliseconds>(
      config_.keepalive.idle_timeout, std::chrono::milliseconds(1000)));
}

void Cluster::closeIdle() {
  for (auto& list : idle_) {
    for (auto& conn : list) {
      conn->stream.close();
      loop_.deferDelete(std::move(conn));
    }
    list.clear();
  }
  sweep_timer_.stop();
}

}  // namespace weir::upstream
