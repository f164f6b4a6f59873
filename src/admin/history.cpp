#include "admin/history.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

namespace weir::admin {
namespace {

using json = nlohmann::ordered_json;

constexpr std::string_view kClasses[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
constexpr std::string_view kAdminNames[] = {"enabled", "draining", "disabled"};
constexpr std::string_view kHealthNames[] = {"unknown", "healthy", "unhealthy", "ejected"};

// A counter's change; a counter that went down restarted from zero.
uint64_t delta(uint64_t before, uint64_t after) { return after >= before ? after - before : after; }

uint32_t clamp32(uint64_t v) {
  return static_cast<uint32_t>(std::min<uint64_t>(v, std::numeric_limits<uint32_t>::max()));
}

double roundTo3(double v) { return std::round(v * 1000.0) / 1000.0; }

TrafficCounters trafficDelta(const TrafficCounters& before, const TrafficCounters& after) {
  TrafficCounters d;
  d.requests = delta(before.requests, after.requests);
  for (size_t i = 0; i < d.responses.size(); ++i)
    d.responses[i] = delta(before.responses[i], after.responses[i]);
  d.bytes_in = delta(before.bytes_in, after.bytes_in);
  d.bytes_out = delta(before.bytes_out, after.bytes_out);
  return d;
}

uint8_t adminIndex(std::string_view admin) {
  if (admin == "draining") return 1;
  if (admin == "disabled") return 2;
  return 0;
}

uint8_t healthIndex(std::string_view health) {
  if (health == "healthy") return 1;
  if (health == "unhealthy") return 2;
  if (health == "ejected") return 3;
  return 0;
}

const server::ServerReport* findServer(const server::StatsReport* report,
                                       const std::string& upstream, const std::string& address) {
  if (!report) return nullptr;
  for (const auto& u : report->upstreams)
    if (u.name == upstream)
      for (const auto& s : u.servers)
        if (s.address == address) return &s;
  return nullptr;
}

const server::ListenerReport* findListener(const server::StatsReport* report,
                                           const std::string& name) {
  if (!report) return nullptr;
  for (const auto& l : report->listeners)
    if (l.name == name) return &l;
  return nullptr;
}

SampleLayout layoutOf(const server::StatsReport& report, const config::Config* config) {
  SampleLayout layout;
  for (const auto& u : report.upstreams) {
    SampleLayout::Upstream entry{u.name, {}};
    for (const auto& s : u.servers) entry.servers.push_back(s.address);
    layout.upstreams.push_back(std::move(entry));
  }
  for (const auto& l : report.listeners) {
    const config::Listener* cl = nullptr;
    if (config)
      for (const auto& c : config->listeners)
        if (c.name == l.name) cl = &c;
    for (size_t i = 0; i < l.routes.size(); ++i) {
      std::string label =
          cl && i < cl->routes.size() ? routeLabel(cl->routes[i]) : "route " + std::to_string(i);
      layout.routes.push_back({l.name, i, std::move(label)});
    }
  }
  return layout;
}

}  // namespace

std::string_view serverStateName(ServerState s) {
  switch (s) {
    case ServerState::Unknown:
      return "unknown";
    case ServerState::Healthy:
      return "healthy";
    case ServerState::Unhealthy:
      return "unhealthy";
    case ServerState::Ejected:
      return "ejected";
    case ServerState::Draining:
      return "draining";
    case ServerState::Disabled:
      return "disabled";
  }
  return "unknown";
}

ServerState combineState(std::string_view admin, std::string_view health) {
  if (admin == "disabled") return ServerState::Disabled;
  if (admin == "draining") return ServerState::Draining;
  if (health == "ejected") return ServerState::Ejected;
  if (health == "unhealthy") return ServerState::Unhealthy;
  if (health == "healthy") return ServerState::Healthy;
  return ServerState::Unknown;
}

// ---------------------------------------------------------------------------------------------
// HistoryRing

HistoryRing::HistoryRing(size_t capacity) : slots_(std::max<size_t>(capacity, 1)) {}

void HistoryRing::push(Sample sample) {
  if (size_ < slots_.size()) {
    slots_[(head_ + size_) % slots_.size()] = std::move(sample);
    ++size_;
    return;
  }
  slots_[head_] = std::move(sample);  // overwrites the oldest
  head_ = (head_ + 1) % slots_.size();
}

const Sample& HistoryRing::at(size_t i) const {
  assert(i < size_);
  return slots_[(head_ + i) % slots_.size()];
}

void HistoryRing::clear() {
  for (auto& s : slots_) s = Sample{};
  head_ = 0;
  size_ = 0;
}

// ---------------------------------------------------------------------------------------------
// Deltas

double bucketQuantileUs(const std::array<uint64_t, LatencyHistogram::kBuckets>& counts, double q) {
  // As LatencyHistogram::quantileUs, on counts given from outside.
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  if (total == 0) return 0;
  const auto& bounds = LatencyHistogram::kBoundsUs;
  const double rank = q * static_cast<double>(total);
  double seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double in_bucket = static_cast<double>(counts[i]);
    if (seen + in_bucket >= rank && in_bucket > 0) {
      const double lo = i == 0 ? 0.0 : static_cast<double>(bounds[i - 1]);
      const double hi = i < bounds.size() ? static_cast<double>(bounds[i]) : lo * 2;
      return lo + (hi - lo) * ((rank - seen) / in_bucket);
    }
    seen += in_bucket;
  }
  return static_cast<double>(bounds.back());
}

std::array<uint64_t, LatencyHistogram::kBuckets> bucketDelta(const LatencyHistogram& before,
                                                             const LatencyHistogram& after) {
  std::array<uint64_t, LatencyHistogram::kBuckets> out{};
  bool restarted = after.count() < before.count();
  for (size_t i = 0; i < out.size() && !restarted; ++i)
    restarted = after.bucket(i) < before.bucket(i);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = restarted ? after.bucket(i) : after.bucket(i) - before.bucket(i);
  return out;
}

bool SampleBuilder::next(const server::StatsReport& report, uint64_t at_unix_ms,
                         uint64_t generation, const config::Config* config, const HealthOf& health,
                         Sample& out) {
  std::unique_ptr<server::StatsReport> previous = std::move(previous_);
  previous_ = std::make_unique<server::StatsReport>(report);
  if (!previous) return false;

  SampleLayout layout = layoutOf(report, config);
  if (!layout_ || !(*layout_ == layout))
    layout_ = std::make_shared<const SampleLayout>(std::move(layout));

  const proxy::WorkerTotals& now = report.totals;
  const proxy::WorkerTotals& before = previous->totals;
  out = Sample{};
  out.at_unix_ms = at_unix_ms;
  out.generation = generation;
  out.totals = now.traffic;
  out.connections_accepted = now.connections_accepted;
  out.connections_open = now.connections_open;
  out.delta = trafficDelta(before.traffic, now.traffic);
  const auto latency = bucketDelta(before.latency, now.latency);
  out.p50_ms = bucketQuantileUs(latency, 0.50) / 1000.0;
  out.p90_ms = bucketQuantileUs(latency, 0.90) / 1000.0;
  out.p99_ms = bucketQuantileUs(latency, 0.99) / 1000.0;
  out.layout = layout_;

  for (const auto& u : report.upstreams) {
    for (const auto& s : u.servers) {
      ServerSample ss;
      const std::string h = health ? health(u.name, s.address) : std::string("unknown");
      ss.state = combineState(s.state, h);
      ss.admin = adminIndex(s.state);
      ss.health = healthIndex(h);
      ss.weight = s.weight;
      ss.in_flight = clamp32(s.in_flight);
      ss.requests_total = s.traffic.requests;
      const server::ServerReport* was = findServer(previous.get(), u.name, s.address);
      const server::ServerReport zero;
      const server::ServerReport& base = was ? *was : zero;
      ss.requests = clamp32(delta(base.traffic.requests, s.traffic.requests));
      ss.errors = clamp32(delta(base.traffic.responses[5], s.traffic.responses[5]));
      ss.p99_ms =
          static_cast<float>(bucketQuantileUs(bucketDelta(base.latency, s.latency), 0.99) / 1000.0);
      out.servers.push_back(ss);
    }
  }
  for (const auto& l : report.listeners) {
    const server::ListenerReport* was = findListener(previous.get(), l.name);
    for (size_t i = 0; i < l.routes.size(); ++i) {
      const TrafficCounters zero;
      const TrafficCounters& base = was && i < was->routes.size() ? was->routes[i] : zero;
      out.routes.push_back({clamp32(delta(base.requests, l.routes[i].requests)),
                            clamp32(delta(base.responses[5], l.routes[i].responses[5]))});
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Labels and JSON

std::string routeLabel(const config::Route& route) {
  std::string out;
  auto add = [&](std::string_view key, const std::string& value) {
    if (!out.empty()) out += ' ';
    out += key;
    out += ' ';
    out += value;
  };
  const config::RouteMatch& m = route.match;
  if (!m.methods.empty()) {
    std::string methods;
    for (const auto& x : m.methods) methods += (methods.empty() ? "" : ",") + x;
    add("methods", methods);
  }
  if (m.host) add("host", *m.host);
  if (m.host_regex) add("host_regex", *m.host_regex);
  if (m.path) add("path", *m.path);
  if (m.path_prefix) add("path_prefix", *m.path_prefix);
  if (m.path_regex) add("path_regex", *m.path_regex);
  if (!m.headers.empty()) add("headers", std::to_string(m.headers.size()));
  if (!m.query.empty()) add("query", std::to_string(m.query.size()));
  if (out.empty()) out = "any";
  if (route.upstream) {
    out += " -> " + *route.upstream;
  } else if (route.respond) {
    out += " -> respond " + std::to_string(route.respond->status);
  } else if (route.redirect) {
    out += " -> redirect " + std::to_string(route.redirect->status);
  }
  return out;
}

json sampleJson(const Sample& s) {
  json responses = json::object();
  for (size_t c = 1; c < s.delta.responses.size(); ++c)
    responses[std::string(kClasses[c])] = s.delta.responses[c];
  json total_responses = json::object();
  for (size_t c = 1; c < s.totals.responses.size(); ++c)
    total_responses[std::string(kClasses[c])] = s.totals.responses[c];

  json upstreams = json::array();
  json routes = json::array();
  if (s.layout) {
    size_t k = 0;
    for (const auto& u : s.layout->upstreams) {
      json servers = json::array();
      for (const auto& address : u.servers) {
        if (k >= s.servers.size()) break;
        const ServerSample& x = s.servers[k++];
        servers.push_back(json{
            {"address", address},
            {"state", serverStateName(x.state)},
            {"admin", kAdminNames[x.admin < 3 ? x.admin : 0]},
            {"health", kHealthNames[x.health < 4 ? x.health : 0]},
            {"weight", x.weight},
            {"in_flight", x.in_flight},
            {"requests", x.requests},
            {"errors", x.errors},
            {"requests_total", x.requests_total},
            {"p99_ms", roundTo3(x.p99_ms)},
        });
      }
      upstreams.push_back(json{{"name", u.name}, {"servers", std::move(servers)}});
    }
    for (size_t i = 0; i < s.layout->routes.size() && i < s.routes.size(); ++i) {
      const auto& r = s.layout->routes[i];
      routes.push_back(json{{"listener", r.listener},
                            {"index", r.index},
                            {"label", r.label},
                            {"requests", s.routes[i].requests},
                            {"errors", s.routes[i].errors}});
    }
  }

  return json{
      {"t", s.at_unix_ms},
      {"generation", s.generation},
      {"requests", s.delta.requests},
      {"responses", std::move(responses)},
      {"bytes_in", s.delta.bytes_in},
      {"bytes_out", s.delta.bytes_out},
      {"latency_ms",
       {{"p50", roundTo3(s.p50_ms)}, {"p90", roundTo3(s.p90_ms)}, {"p99", roundTo3(s.p99_ms)}}},
      {"connections_open", s.connections_open},
      {"totals",
       {{"requests", s.totals.requests},
        {"responses", std::move(total_responses)},
        {"bytes_in", s.totals.bytes_in},
        {"bytes_out", s.totals.bytes_out},
        {"connections_accepted", s.connections_accepted}}},
      {"upstreams", std::move(upstreams)},
      {"routes", std::move(routes)},
  };
}

}  // namespace weir::admin
