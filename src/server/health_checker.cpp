#include "server/health_checker.h"

#include <chrono>

#include "core/log.h"
#include "health/check_spec.h"
#include "http/parser.h"

namespace weir::server {
namespace {

uint64_t unixMs() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

constexpr size_t kMaxProbeBody = 64 * 1024;

}  // namespace

// One server's active check: a timer, and while a probe runs, its connection and parser.
struct HealthChecker::Probe final : net::TcpStream::Handler, http::HttpParser::Sink {
  HealthChecker* owner = nullptr;
  std::string upstream;
  std::string server;
  net::SocketAddress address;
  config::HealthCheck spec;
  health::HealthState state{1, 1, true};
  bool checked = false;  // a probe finished at least once
  std::unique_ptr<net::Timer> timer;
  std::unique_ptr<net::Timer> deadline;
  std::unique_ptr<net::TcpStream> conn;
  std::unique_ptr<http::HttpParser> parser;
  std::string body;
  bool done = false;

  void onConnected(net::TcpStream&, int status) override {
    if (status != 0) {
      owner->finish(*this, false, std::string("connect: ") + uv_strerror(status));
      return;
    }
    if (spec.type == config::HealthCheck::Type::Tcp) {
      owner->finish(*this, true, "connected");
      return;
    }
    health::HttpCheckSpec http{spec.method,    spec.path,      spec.host,
                               spec.status_lo, spec.status_hi, spec.expect_body};
    parser = std::make_unique<http::HttpParser>(http::HttpParser::Mode::Response, this,
                                                http::ParseLimits{64 * 1024, 8 * 1024});
    parser->expectNoBody(spec.method == "HEAD");
    conn->startRead();
    conn->write(health::buildProbeRequest(http, server));
  }
  void onRead(net::TcpStream&, const char* data, size_t len) override {
    if (!parser) return;
    auto out = parser->execute(data, len);
    if (out.status == http::HttpParser::Status::Error)
      owner->finish(*this, false, "invalid response: " + parser->errorReason());
    else if (out.status != http::HttpParser::Status::NeedMore)
      complete();
  }
  void onReadEnd(net::TcpStream&, int status) override {
    if (parser && parser->headComplete() && parser->needsEof() &&
        parser->finish().status == http::HttpParser::Status::MessageComplete) {
      complete();
      return;
    }
    owner->finish(*this, false,
                  status == UV_EOF ? "closed before a response" : uv_strerror(status));
  }
  void onWritten(net::TcpStream&, int status) override {
    if (status < 0) owner->finish(*this, false, std::string("write: ") + uv_strerror(status));
  }
  bool onHead(http::HttpParser&) override { return true; }
  void onBody(http::HttpParser&, const char* data, size_t len) override {
    if (body.size() < kMaxProbeBody) body.append(data, std::min(len, kMaxProbeBody - body.size()));
  }
  void onMessageComplete(http::HttpParser&) override {}
  void complete() {
    const int status = parser->head().status;
    health::HttpCheckSpec http{spec.method,    spec.path,      spec.host,
                               spec.status_lo, spec.status_hi, spec.expect_body};
    const bool passed = health::probePassed(http, status, body);
    owner->finish(*this, passed,
                  "status " + std::to_string(status) +
                      (passed                     ? ""
                       : spec.expect_body.empty() ? ""
                                                  : " or body"));
  }
};

struct HealthChecker::Pool {
  std::string name;
  std::optional<config::HealthCheck> check;
  std::optional<config::Passive> passive;
  std::vector<std::string> servers;                   // in config order
  std::vector<std::unique_ptr<Probe>> probes;         // per server when checks are on
  std::unique_ptr<health::OutlierDetector> outliers;  // when passive is on
};

HealthChecker::HealthChecker(net::EventLoop& loop, ChangeSink on_change, PublishSink publish)
    : loop_(loop),
      on_change_(std::move(on_change)),
      publish_(std::move(publish)),
      expiry_timer_(loop),
      rng_(std::random_device{}()) {}

HealthChecker::~HealthChecker() { close(); }

void HealthChecker::close() {
  pools_.clear();
  expiry_timer_.stop();
}

static bool sameCheck(const config::HealthCheck& a, const config::HealthCheck& b) {
  return a.type == b.type && a.path == b.path && a.host == b.host && a.method == b.method &&
         a.rise == b.rise && a.fall == b.fall && a.status_lo == b.status_lo &&
         a.status_hi == b.status_hi && a.expect_body == b.expect_body;
}

void HealthChecker::configure(std::shared_ptr<const proxy::Snapshot> snapshot) {
  std::vector<std::unique_ptr<Pool>> next;
  for (const auto& uv : snapshot->upstreams) {
    const config::Upstream& cfg = *uv.config;
    auto pool = std::make_unique<Pool>();
    pool->name = cfg.name;
    pool->check = cfg.health_check;
    pool->passive = cfg.passive;
    Pool* old = nullptr;
    for (auto& p : pools_)
      if (p && p->name == cfg.name) old = p.get();
    for (size_t i = 0; i < uv.endpoints.size(); ++i) {
      const upstream::Endpoint& ep = uv.endpoints[i];
      pool->servers.push_back(ep.name);
      if (!cfg.health_check) continue;
      std::unique_ptr<Probe> probe;
      if (old) {
        for (auto& p : old->probes) {
          if (p && p->server == ep.name && sameCheck(p->spec, *cfg.health_check)) {
            probe = std::move(p);
            break;
          }
        }
      }
      if (!probe) {
        probe = std::make_unique<Probe>();
        probe->owner = this;
        probe->upstream = cfg.name;
        probe->server = ep.name;
        probe->state = health::HealthState(cfg.health_check->rise, cfg.health_check->fall,
                                           cfg.health_check->initially_healthy);
        probe->timer = std::make_unique<net::Timer>(loop_);
      }
      probe->address = ep.address;
      probe->spec = *cfg.health_check;
      if (!probe->conn) {
        const uint64_t interval = static_cast<uint64_t>(probe->spec.interval.count());
        schedule(*probe, probe->checked
                             ? health::jitteredDelay(interval, probe->spec.jitter, rng_())
                             : health::initialOffset(i, uv.endpoints.size(), interval));
      }
      pool->probes.push_back(std::move(probe));
    }
    if (cfg.passive) {
      health::OutlierConfig oc;
      oc.consecutive_failures = cfg.passive->consecutive_failures;
      oc.ejection_ms = static_cast<uint64_t>(cfg.passive->ejection.count());
      oc.max_ejection_ms = static_cast<uint64_t>(cfg.passive->max_ejection.count());
      oc.max_ejected_percent = cfg.passive->max_ejected_percent;
      const bool same_servers = old && old->outliers && old->servers == pool->servers;
      pool->outliers = same_servers
                           ? std::move(old->outliers)
                           : std::make_unique<health::OutlierDetector>(oc, uv.endpoints.size());
    }
    next.push_back(std::move(pool));
  }
  pools_ = std::move(next);  // probes of removed servers close with their pools
  snapshot_ = std::move(snapshot);
  publish();
}

void HealthChecker::schedule(Probe& p, uint64_t delay_ms) {
  p.timer->start(std::chrono::milliseconds(delay_ms), [this, &p] { run(p); });
}

void HealthChecker::run(Probe& p) {
  p.done = false;
  p.body.clear();
  p.parser.reset();
  p.conn = std::make_unique<net::TcpStream>(loop_, &p);
  p.deadline = std::make_unique<net::Timer>(loop_);
  p.deadline->start(p.spec.timeout, [this, &p] { finish(p, false, "timed out"); });
  int rc = p.conn->connect(p.address.get());
  if (rc != 0) finish(p, false, std::string("connect: ") + uv_strerror(rc));
}

void HealthChecker::finish(Probe& p, bool passed, const std::string& why) {
  if (p.done) return;
  p.done = true;
  if (p.conn) {
    p.conn->close();
    loop_.deferDelete(std::move(p.conn));
  }
  if (p.parser) loop_.deferDelete(std::move(p.parser));
  p.deadline.reset();
  const bool was = p.state.healthy();
  const bool first = !p.checked;
  p.checked = true;
  bool flipped;
  if (first && passed && !was) {
    // A server starts serving after its first passing probe (rise counts only after that).
    p.state = health::HealthState(p.spec.rise, p.spec.fall, true);
    flipped = true;
  } else {
    flipped = p.state.observe(passed);
  }
  if (flipped || first) {
    // Start-up verdicts are news only when bad: a server passing its first check is expected.
    // A first verdict that confirms the initial state is not a change; one that does not is.
    // A server passing its first check is logged but not alerted: that is what is expected.
    // A first failure is news too: the server was never seen working.
    const bool news = flipped || (first && !p.state.healthy());
    if (news) {
      change(p.upstream, p.server, flipped ? (was ? "healthy" : "unhealthy") : "unknown",
             p.state.healthy() ? "healthy" : "unhealthy",
             (passed ? "check passed: " : "check failed: ") + why,
             /*alert=*/!first);  // start-up verdicts are logged, not alerted
    }
    publish();
  }
  const uint64_t interval = static_cast<uint64_t>(p.spec.interval.count());
  schedule(p, health::jitteredDelay(interval, p.spec.jitter, rng_()));
}

void HealthChecker::onPassiveResult(const std::string& upstream, const std::string& server,
                                    bool failed) {
  for (auto& pool : pools_) {
    if (pool->name != upstream || !pool->outliers) continue;
    for (size_t i = 0; i < pool->servers.size(); ++i) {
      if (pool->servers[i] != server) continue;
      if (pool->outliers->onResult(i, failed, loop_.now())) {
        change(
            upstream, server, "healthy", "ejected",
            std::to_string(pool->passive->consecutive_failures) + " consecutive failed requests");
        publish();
        expireEjections();
      }
      return;
    }
  }
}

void HealthChecker::expireEjections() {
  uint64_t next = UINT64_MAX;
  const uint64_t now = loop_.now();
  bool any = false;
  for (auto& pool : pools_) {
    if (!pool->outliers) continue;
    for (size_t i : pool->outliers->expire(now)) {
      change(pool->name, pool->servers[i], "ejected", "healthy", "ejection time over");
      any = true;
    }
    next = std::min(next, pool->outliers->nextExpiry());
  }
  if (any) publish();
  if (next != UINT64_MAX) {
    expiry_timer_.start(std::chrono::milliseconds(next > now ? next - now : 1),
                        [this] { expireEjections(); });
  }
}

void HealthChecker::change(const std::string& upstream, const std::string& server,
                           const std::string& from, const std::string& to,
                           const std::string& reason, bool alert) {
  log::notice("upstream ", upstream, " server ", server, ": ", from, " -> ", to, " (", reason, ")");
  if (alert && on_change_)
    on_change_(alerts::StateChange{upstream, server, from, to, unixMs(), reason});
}

std::string HealthChecker::stateOf(const std::string& upstream, const std::string& server) const {
  for (const auto& pool : pools_) {
    if (pool->name != upstream) continue;
    for (size_t i = 0; i < pool->servers.size(); ++i) {
      if (pool->servers[i] != server) continue;
      if (pool->outliers && pool->outliers->ejected(i, loop_.now())) return "ejected";
      for (const auto& p : pool->probes) {
        if (p->server != server) continue;
        if (!p->checked && !p->spec.initially_healthy) return "unknown";
        return p->state.healthy() ? "healthy" : "unhealthy";
      }
      return pool->outliers ? "healthy" : "unknown";
    }
  }
  return "unknown";
}

void HealthChecker::publish() {
  auto view = std::make_shared<health::HealthView>();
  view->generation = ++generation_;
  const uint64_t now = loop_.now();
  for (const auto& pool : pools_) {
    health::HealthView::Upstream u;
    u.name = pool->name;
    for (size_t i = 0; i < pool->servers.size(); ++i) {
      health::HealthView::Server s;
      s.name = pool->servers[i];
      s.health = health::EndpointHealth::Unknown;
      for (const auto& p : pool->probes) {
        if (p->server != s.name) continue;
        s.health = p->state.healthy() ? health::EndpointHealth::Healthy
                                      : health::EndpointHealth::Unhealthy;
      }
      if (pool->outliers && pool->outliers->ejected(i, now))
        s.health = health::EndpointHealth::Unhealthy;
      u.servers.push_back(std::move(s));
    }
    view->upstreams.push_back(std::move(u));
  }
  view_ = view;
  if (publish_) publish_(view_);
}

}  // namespace weir::server
