#include "upstream/cluster.h"

#include <algorithm>

#include "balance/round_robin.h"

namespace weir::upstream {

std::string_view adminStateName(AdminState s) {
  switch (s) {
    case AdminState::Enabled: return "enabled";
    case AdminState::Draining: return "draining";
    case AdminState::Disabled: return "disabled";
  }
  return "enabled";
}

Cluster::Cluster(net::EventLoop& loop, std::shared_ptr<const void> keep, const UpstreamView& view,
                 uint64_t seed)
    : loop_(loop), seed_(seed), sweep_timer_(loop) {
  limits_.max_head_bytes = 64 * 1024;
  reconcile(std::move(keep), view);
}

Cluster::~Cluster() { closeIdle(); }

void Cluster::reconcile(std::shared_ptr<const void> keep, const UpstreamView& view) {
  std::vector<std::shared_ptr<EndpointState>> next;
  for (const Endpoint& e : view.endpoints) {
    std::shared_ptr<EndpointState> state;
    for (auto& old : endpoints_) {
      if (old && old->ep.name == e.name) {
        state = std::move(old);
        break;
      }
    }
    if (!state) state = std::make_shared<EndpointState>();
    state->ep = e;
    if (!state->weight_overridden) state->weight = e.weight;
    state->index = next.size();
    next.push_back(std::move(state));
  }
  for (auto& old : endpoints_) {
    if (!old) continue;
    old->removed = true;
    closeIdle(*old);
  }
  endpoints_ = std::move(next);
  keep_ = std::move(keep);
  config_ = view.config;
  excluded_ = balance::EndpointSet(endpoints_.size());
  rebuildBalancer();
}

void Cluster::rebuildBalancer() {
  std::vector<int> weights;
  for (const auto& e : endpoints_) weights.push_back(e->weight);
  balancer_ = std::make_unique<balance::RoundRobin>(std::move(weights), seed_);
}

EndpointState* Cluster::find(std::string_view name) {
  for (auto& e : endpoints_)
    if (e->ep.name == name) return e.get();
  return nullptr;
}

std::shared_ptr<EndpointState> Cluster::pick(const balance::EndpointSet& tried) {
  excluded_.clear();
  bool any = false;
  for (const auto& e : endpoints_) {
    if (tried.test(e->index) || !e->available()) {
      excluded_.set(e->index);
    } else {
      any = true;
    }
  }
  if (!any) return nullptr;
  balance::PickContext ctx;
  ctx.excluded = &excluded_;
  auto index = balancer_->pick(ctx);
  if (!index) return nullptr;
  return endpoints_[*index];
}

std::unique_ptr<UpstreamConnection> Cluster::takeIdle(EndpointState& ep) {
  if (ep.idle.empty()) return nullptr;
  std::unique_ptr<UpstreamConnection> conn = std::move(ep.idle.back());
  ep.idle.pop_back();
  conn->stream.setHandler(nullptr);
  return conn;
}

void Cluster::release(std::unique_ptr<UpstreamConnection> conn) {
  EndpointState& ep = *conn->endpoint;
  if (ep.removed || ep.admin == AdminState::Disabled || !conn->stream.open() ||
      ep.idle.size() >= config_->keepalive.max_idle) {
    conn->stream.close();
    loop_.deferDelete(std::move(conn));
    return;
  }
  conn->idle_since_ms = loop_.now();
  conn->parser.setSink(nullptr);
  conn->parser.reset();
  conn->stream.setHandler(this);
  conn->stream.startRead();  // an idle connection that reads anything (or EOF) is dropped
  ep.idle.push_back(std::move(conn));
  if (!sweep_timer_.active()) {
    auto every = std::min<std::chrono::milliseconds>(config_->keepalive.idle_timeout,
                                                     std::chrono::milliseconds(1000));
    sweep_timer_.start(every, [this] { sweep(); });
  }
}

void Cluster::drop(net::TcpStream& stream) {
  for (auto& ep : endpoints_) {
    auto& list = ep->idle;
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
  const uint64_t limit = static_cast<uint64_t>(config_->keepalive.idle_timeout.count());
  bool any = false;
  for (auto& ep : endpoints_) {
    auto& list = ep->idle;
    auto keep = std::remove_if(list.begin(), list.end(), [&](auto& conn) {
      if (now - conn->idle_since_ms < limit) return false;
      conn->stream.close();
      loop_.deferDelete(std::move(conn));
      return true;
    });
    list.erase(keep, list.end());
    any = any || !list.empty();
  }
  if (any)
    sweep_timer_.restart(std::min<std::chrono::milliseconds>(config_->keepalive.idle_timeout,
                                                             std::chrono::milliseconds(1000)));
}

void Cluster::closeIdle(EndpointState& ep) {
  for (auto& conn : ep.idle) {
    conn->stream.close();
    loop_.deferDelete(std::move(conn));
  }
  ep.idle.clear();
}

void Cluster::closeIdle() {
  for (auto& ep : endpoints_) closeIdle(*ep);
  sweep_timer_.stop();
}

void Cluster::onStart(EndpointState& ep) {
  ++ep.in_flight;
  ++ep.traffic.requests;
}

void Cluster::onFinish(EndpointState& ep, std::chrono::microseconds latency, bool ok) {
  if (ep.in_flight > 0) --ep.in_flight;
  if (ok) {
    ep.latency.observe(static_cast<uint64_t>(latency.count()));
  } else {
    ++ep.failures;
  }
}

void Cluster::setAdminState(EndpointState& ep, AdminState state) {
  ep.admin = state;
  if (state == AdminState::Disabled) closeIdle(ep);
}

void Cluster::setWeight(EndpointState& ep, int weight) {
  ep.weight_overridden = weight > 0;
  ep.weight = weight > 0 ? weight : ep.ep.weight;
  rebuildBalancer();
}

}  // namespace weir::upstream
