#include "upstream/cluster.h"

#include <algorithm>
#include <random>

#include "balance/factory.h"
#include "balance/hash.h"
#include "balance/slow_start.h"

namespace weir::upstream {

std::string_view adminStateName(AdminState s) {
  switch (s) {
    case AdminState::Enabled:
      return "enabled";
    case AdminState::Draining:
      return "draining";
    case AdminState::Disabled:
      return "disabled";
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
    if (!state) {
      state = std::make_shared<EndpointState>();
      state->available_since_ms = loop_.now();
    }
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
  if (tls_ != view.tls) {  // a new TLS setup: connections made with the old one go
    for (auto& e : endpoints_) closeIdle(*e);
    tls_ = view.tls;
  }
  excluded_ = balance::EndpointSet(endpoints_.size());
  rebuildBalancer();
}

void Cluster::rebuildBalancer() {
  std::vector<balance::EndpointSpec> specs;
  for (const auto& e : endpoints_) {
    balance::EndpointSpec spec;
    spec.weight = e->weight;
    spec.backup = e->ep.backup;
    spec.max_conns = e->ep.max_conns;
    spec.key = e->ep.name;
    specs.push_back(std::move(spec));
  }
  auto policy = balance::parsePolicy(config_->balance).value_or(balance::Policy::RoundRobin);
  balancer_ = balance::makeBalancer(policy, std::move(specs), seed_);
  for (const auto& e : endpoints_)
    for (uint32_t i = 0; i < e->in_flight; ++i) balancer_->onStart(e->index);
  ramping_ = config_->slow_start.count() > 0;
  if (ramping_) applySlowStart(loop_.now());
}

void Cluster::applySlowStart(uint64_t now_ms) {
  const uint64_t window = static_cast<uint64_t>(config_->slow_start.count());
  bool still = false;
  for (const auto& e : endpoints_) {
    double scale = balance::slowStartScale(e->available_since_ms, now_ms, window);
    balancer_->setWeightScale(e->index, scale);
    still = still || scale < 1.0;
  }
  ramping_ = still;
}

std::shared_ptr<EndpointState> Cluster::findSticky(std::string_view cookie_value) {
  for (auto& e : endpoints_)
    if (e->available() && stickyValue(*e) == cookie_value) return e;
  return nullptr;
}

std::string Cluster::stickyValue(const EndpointState& ep) const {
  static const uint64_t secret = std::random_device{}() * 0x9e3779b97f4a7c15ull ^ seed_;
  const uint64_t h = balance::hashKey(ep.ep.name + "#" + std::to_string(secret));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 0; i < 16; ++i) out[static_cast<size_t>(i)] = kHex[(h >> (60 - 4 * i)) & 0xf];
  return out;
}

EndpointState* Cluster::find(std::string_view name) {
  for (auto& e : endpoints_)
    if (e->ep.name == name) return e.get();
  return nullptr;
}

std::shared_ptr<EndpointState> Cluster::pick(const balance::EndpointSet& tried,
                                             std::optional<uint64_t> hash) {
  if (ramping_) applySlowStart(loop_.now());
  excluded_.clear();
  panicked_ = false;
  bool any = false;
  bool unhealthy_only = false;  // some untried server is usable but for its health
  for (const auto& e : endpoints_) {
    if (tried.test(e->index) || !e->available()) {
      excluded_.set(e->index);
      if (!tried.test(e->index) && e->usable()) unhealthy_only = true;
    } else {
      any = true;
    }
  }
  if (!any && unhealthy_only) {
    // Panic: every usable server is unhealthy. fail_open balances over them as if healthy
    // (Envoy's panic threshold); fail_closed answers 503 at once.
    if (!config_->panic_fail_open) {
      panicked_ = true;
      return nullptr;
    }
    excluded_.clear();
    for (const auto& e : endpoints_) {
      if (tried.test(e->index) || !e->usable())
        excluded_.set(e->index);
      else
        any = true;
    }
  }
  if (!any) return nullptr;
  balance::PickContext ctx;
  ctx.excluded = &excluded_;
  ctx.hash = hash;
  ctx.now_ms = loop_.now();
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

// An idle connection must stay silent; over TLS the server may still send session tickets or a
// key update, which the TLS engine absorbs. Anything else (data, EOF, an alert) ends it.
void Cluster::onRead(net::TcpStream& s, const char* data, size_t len) {
  for (auto& ep : endpoints_) {
    for (auto& conn : ep->idle) {
      if (&conn->stream != &s) continue;
      if (conn->tls) {
        std::string plain;
        auto fed = conn->tls->feed(data, len);
        auto st = fed == tls::TlsSession::Status::Ok ? conn->tls->read(plain) : fed;
        std::string out;
        conn->tls->takeOutput(out);
        if (!out.empty()) conn->stream.write(std::move(out));
        if (st == tls::TlsSession::Status::Ok && plain.empty()) return;
      }
      drop(s);
      return;
    }
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
  if (!ep.removed) balancer_->onStart(ep.index);
}

void Cluster::onFinish(EndpointState& ep, std::chrono::microseconds latency, bool ok) {
  if (ep.in_flight > 0) --ep.in_flight;
  if (!ep.removed) balancer_->onFinish(ep.index, latency, ok, loop_.now());
  if (ok) {
    ep.latency.observe(static_cast<uint64_t>(latency.count()));
  } else {
    ++ep.failures;
  }
}

void Cluster::onAbandon(EndpointState& ep, std::chrono::microseconds elapsed) {
  if (ep.in_flight > 0) --ep.in_flight;
  // The balancer is told it finished (each onStart needs its onFinish); the time so far is a
  // lower bound of the server's latency, which peak EWMA may use.
  if (!ep.removed) balancer_->onFinish(ep.index, elapsed, true, loop_.now());
}

void Cluster::setAdminState(EndpointState& ep, AdminState state) {
  if (state == AdminState::Enabled && ep.admin != AdminState::Enabled) {
    ep.available_since_ms = loop_.now();
    ramping_ = config_->slow_start.count() > 0;
  }
  ep.admin = state;
  if (state == AdminState::Disabled) closeIdle(ep);
}

void Cluster::setWeight(EndpointState& ep, int weight) {
  ep.weight_overridden = weight > 0;
  ep.weight = weight > 0 ? weight : ep.ep.weight;
  rebuildBalancer();
}

}  // namespace weir::upstream

namespace weir::upstream {

void Cluster::applyHealth(const health::HealthView& view) {
  const health::HealthView::Upstream* u = view.findUpstream(config_->name);
  for (auto& e : endpoints_) {
    bool healthy = true;
    if (u) {
      for (const auto& s : u->servers)
        if (s.name == e->ep.name) healthy = s.health != health::EndpointHealth::Unhealthy;
    }
    if (healthy && !e->healthy) {
      e->available_since_ms = loop_.now();
      ramping_ = config_->slow_start.count() > 0;
    }
    e->healthy = healthy;
    if (!healthy) closeIdle(*e);
  }
}

}  // namespace weir::upstream
