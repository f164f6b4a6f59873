#include "admin/stats_format.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <initializer_list>
#include <string_view>
#include <utility>

namespace weir::admin {
namespace {

using json = nlohmann::ordered_json;
using server::ServerReport;
using server::StatsReport;
using server::UpstreamReport;

constexpr std::string_view kClasses[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
constexpr std::string_view kStates[] = {"enabled", "draining", "disabled"};

double roundTo3(double v) { return std::round(v * 1000.0) / 1000.0; }

double quantileMs(const LatencyHistogram& h, double q) {
  return roundTo3(h.quantileUs(q) / 1000.0);
}

json responsesJson(const TrafficCounters& t) {
  json r = json::object();
  for (size_t c = 1; c < t.responses.size(); ++c) r[std::string(kClasses[c])] = t.responses[c];
  return r;
}

json trafficJson(const TrafficCounters& t) {
  return json{{"requests", t.requests}, {"responses", responsesJson(t)}};
}

// ---------------------------------------------------------------------------------------------
// Prometheus text format 0.0.4

using Label = std::pair<std::string_view, std::string_view>;

// Microseconds as seconds, exact and without exponent ("0.0005", "2.5", "60").
std::string seconds(uint64_t us) {
  std::string out = std::to_string(us / 1'000'000);
  uint64_t frac = us % 1'000'000;
  if (frac == 0) return out;
  char digits[8];
  std::snprintf(digits, sizeof digits, "%06llu", static_cast<unsigned long long>(frac));
  std::string_view f(digits);
  while (!f.empty() && f.back() == '0') f.remove_suffix(1);
  out += '.';
  out += f;
  return out;
}

void appendEscaped(std::string& out, std::string_view text, bool quotes) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// Writes families one after the other; a family's HELP and TYPE lines go out with its first
// sample, so a family without samples (no upstreams) leaves no trace.
class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    header_.clear();
    header_ += "# HELP ";
    header_ += name;
    header_ += ' ';
    appendEscaped(header_, help, /*quotes=*/false);
    header_ += "\n# TYPE ";
    header_ += name;
    header_ += ' ';
    header_ += type;
    header_ += '\n';
  }

  void sample(std::string_view name, std::initializer_list<Label> labels, std::string_view value,
              const Label* extra = nullptr) {
    out_ += header_;
    header_.clear();
    out_ += name;
    if (labels.size() > 0 || extra) {
      out_ += '{';
      bool first = true;
      auto add = [&](const Label& l) {
        if (!first) out_ += ',';
        first = false;
        out_ += l.first;
        out_ += "=\"";
        appendEscaped(out_, l.second, /*quotes=*/true);
        out_ += '"';
      };
      for (const Label& l : labels) add(l);
      if (extra) add(*extra);
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  void sample(std::string_view name, std::initializer_list<Label> labels, uint64_t value) {
    sample(name, labels, std::to_string(value));
  }

  // Cumulative buckets (le in seconds), then _sum and _count; `labels` come before `le`.
  void histogram(std::string_view name, std::initializer_list<Label> labels,
                 const LatencyHistogram& h) {
    const std::string bucket = std::string(name) + "_bucket";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
      cumulative += h.bucket(i);
      const std::string le =
          i < LatencyHistogram::kBoundsUs.size() ? seconds(LatencyHistogram::kBoundsUs[i]) : "+Inf";
      const Label extra{"le", le};
      sample(bucket, labels, std::to_string(cumulative), &extra);
    }
    sample(std::string(name) + "_sum", labels, seconds(h.sumUs()));
    sample(std::string(name) + "_count", labels, h.count());
  }

  std::string take() { return std::move(out_); }

 private:
  std::string header_;  // of the current family, until its first sample
  std::string out_;
};

// ---------------------------------------------------------------------------------------------
// CSV

void appendCsvField(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

std::string fixed3(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

}  // namespace

std::string rfc3339(uint64_t unix_ms) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned>(unix_ms % 1000));
  return buf;
}

json latencyJson(const LatencyHistogram& h) {
  return json{
      {"p50", quantileMs(h, 0.50)}, {"p90", quantileMs(h, 0.90)}, {"p99", quantileMs(h, 0.99)}};
}

json serverJson(const ServerReport& s) {
  return json{
      {"address", s.address},
      {"state", s.state},
      {"weight", s.weight},
      {"backup", s.backup},
      {"in_flight", s.in_flight},
      {"idle_connections", s.idle_connections},
      {"requests", s.traffic.requests},
      {"responses", responsesJson(s.traffic)},
      {"failures", s.failures},
      {"connect_failures", s.connect_failures},
      {"latency", latencyJson(s.latency)},
  };
}

json upstreamJson(const UpstreamReport& u) {
  json servers = json::array();
  for (const auto& s : u.servers) servers.push_back(serverJson(s));
  return json{{"name", u.name}, {"servers", std::move(servers)}};
}

json statsJson(const StatsReport& report, const ProcessInfo& info) {
  const proxy::WorkerTotals& t = report.totals;
  json failures = json::object();
  for (size_t i = 0; i < t.failures.size(); ++i)
    failures[std::string(failureReasonName(static_cast<FailureReason>(i)))] = t.failures[i];

  json listeners = json::array();
  for (const auto& l : report.listeners) {
    json routes = json::array();
    for (size_t i = 0; i < l.routes.size(); ++i) {
      json r = trafficJson(l.routes[i]);
      r["index"] = i;
      routes.push_back(std::move(r));
    }
    json entry = trafficJson(l.traffic);
    entry["name"] = l.name;
    entry["address"] = l.address;
    entry["connections"] = l.connections;
    entry["routes"] = std::move(routes);
    listeners.push_back(std::move(entry));
  }

  json upstreams = json::array();
  for (const auto& u : report.upstreams) upstreams.push_back(upstreamJson(u));

  return json{
      {"generation", info.generation},
      {"uptime_seconds", roundTo3(info.uptime_seconds)},
      {"last_reload",
       {{"ok", info.last_reload_ok},
        {"generation", info.last_reload_generation},
        {"at", rfc3339(info.last_reload_at_unix_ms)},
        {"errors", info.last_reload_errors}}},
      {"reload_failures", info.reload_failures},
      {"totals",
       {{"connections",
         {{"accepted", t.connections_accepted},
          {"rejected", t.connections_rejected},
          {"open", t.connections_open}}},
        {"requests", t.traffic.requests},
        {"responses", responsesJson(t.traffic)},
        {"bytes_in", t.traffic.bytes_in},
        {"bytes_out", t.traffic.bytes_out},
        {"failures", std::move(failures)},
        {"tls_handshake_failures", t.tls_handshake_failures},  // {reason: count}
        {"latency", latencyJson(t.latency)}}},
      {"listeners", std::move(listeners)},
      {"upstreams", std::move(upstreams)},
  };
}

std::string statsCsv(const StatsReport& report) {
  std::string out =
      "upstream,server,state,weight,backup,in_flight,requests,2xx,3xx,4xx,5xx,failures,"
      "connect_failures,p50_ms,p90_ms,p99_ms\r\n";
  for (const auto& u : report.upstreams) {
    for (const auto& s : u.servers) {
      const std::string fields[] = {
          u.name,
          s.address,
          s.state,
          std::to_string(s.weight),
          s.backup ? "true" : "false",
          std::to_string(s.in_flight),
          std::to_string(s.traffic.requests),
          std::to_string(s.traffic.responses[2]),
          std::to_string(s.traffic.responses[3]),
          std::to_string(s.traffic.responses[4]),
          std::to_string(s.traffic.responses[5]),
          std::to_string(s.failures),
          std::to_string(s.connect_failures),
          fixed3(s.latency.quantileUs(0.50) / 1000.0),
          fixed3(s.latency.quantileUs(0.90) / 1000.0),
          fixed3(s.latency.quantileUs(0.99) / 1000.0),
      };
      bool first = true;
      for (const auto& f : fields) {
        if (!first) out += ',';
        first = false;
        appendCsvField(out, f);
      }
      out += "\r\n";
    }
  }
  return out;
}

std::string statsPrometheus(const StatsReport& report, const ProcessInfo& info) {
  const proxy::WorkerTotals& t = report.totals;
  Exposition x;

  x.family("weir_uptime_seconds", "gauge", "Seconds since the process started.");
  x.sample("weir_uptime_seconds", {}, fixed3(info.uptime_seconds));
  x.family("weir_config_generation", "gauge", "Generation of the config being served.");
  x.sample("weir_config_generation", {}, info.generation);
  x.family("weir_reload_failures_total", "counter", "Reload attempts that kept the old config.");
  x.sample("weir_reload_failures_total", {}, info.reload_failures);
  x.family("weir_last_reload_success", "gauge", "1 when the last reload attempt succeeded.");
  x.sample("weir_last_reload_success", {}, info.last_reload_ok ? 1 : 0);

  x.family("weir_connections_accepted_total", "counter", "Client connections accepted.");
  x.sample("weir_connections_accepted_total", {}, t.connections_accepted);
  x.family("weir_connections_rejected_total", "counter",
           "Client connections closed at once because max_connections was reached.");
  x.sample("weir_connections_rejected_total", {}, t.connections_rejected);
  x.family("weir_connections_open", "gauge", "Client connections open now.");
  x.sample("weir_connections_open", {}, t.connections_open);

  x.family("weir_requests_total", "counter", "Client requests received.");
  x.sample("weir_requests_total", {}, t.traffic.requests);
  x.family("weir_responses_total", "counter", "Responses sent to clients, by status class.");
  for (size_t c = 1; c < t.traffic.responses.size(); ++c)
    x.sample("weir_responses_total", {{"class", kClasses[c]}}, t.traffic.responses[c]);
  x.family("weir_bytes_received_total", "counter", "Request bytes received from clients.");
  x.sample("weir_bytes_received_total", {}, t.traffic.bytes_in);
  x.family("weir_bytes_sent_total", "counter", "Response bytes sent to clients.");
  x.sample("weir_bytes_sent_total", {}, t.traffic.bytes_out);
  x.family("weir_failures_total", "counter", "Failed exchanges, by reason.");
  for (size_t i = 0; i < t.failures.size(); ++i)
    x.sample("weir_failures_total", {{"reason", failureReasonName(static_cast<FailureReason>(i))}},
             t.failures[i]);
  x.family("weir_tls_handshake_failures_total", "counter",
           "Client TLS handshakes that failed, by OpenSSL's reason.");
  for (const auto& [reason, n] : t.tls_handshake_failures)
    x.sample("weir_tls_handshake_failures_total", {{"reason", reason}}, n);
  x.family("weir_request_duration_seconds", "histogram",
           "Time from the request head to the end of the response.");
  x.histogram("weir_request_duration_seconds", {}, t.latency);

  x.family("weir_listener_connections_total", "counter", "Connections accepted, by listener.");
  for (const auto& l : report.listeners)
    x.sample("weir_listener_connections_total", {{"listener", l.name}}, l.connections);
  x.family("weir_listener_requests_total", "counter", "Requests received, by listener.");
  for (const auto& l : report.listeners)
    x.sample("weir_listener_requests_total", {{"listener", l.name}}, l.traffic.requests);
  x.family("weir_listener_responses_total", "counter",
           "Responses sent, by listener and status class.");
  for (const auto& l : report.listeners)
    for (size_t c = 1; c < l.traffic.responses.size(); ++c)
      x.sample("weir_listener_responses_total", {{"listener", l.name}, {"class", kClasses[c]}},
               l.traffic.responses[c]);
  x.family("weir_route_requests_total", "counter",
           "Requests matched, by listener and route index (restarts with each config).");
  for (const auto& l : report.listeners)
    for (size_t i = 0; i < l.routes.size(); ++i)
      x.sample("weir_route_requests_total", {{"listener", l.name}, {"route", std::to_string(i)}},
               l.routes[i].requests);
  x.family("weir_route_responses_total", "counter",
           "Responses sent, by listener, route index and status class.");
  for (const auto& l : report.listeners)
    for (size_t i = 0; i < l.routes.size(); ++i) {
      const std::string route = std::to_string(i);
      for (size_t c = 1; c < l.routes[i].responses.size(); ++c)
        x.sample("weir_route_responses_total",
                 {{"listener", l.name}, {"route", route}, {"class", kClasses[c]}},
                 l.routes[i].responses[c]);
    }

  // Per upstream server: one loop per family keeps each family's samples together.
  auto each = [&](auto&& fn) {
    for (const auto& u : report.upstreams)
      for (const auto& s : u.servers) fn(u, s);
  };
  using U = UpstreamReport;
  using S = ServerReport;
  x.family("weir_upstream_requests_total", "counter", "Requests sent to an upstream server.");
  each([&](const U& u, const S& s) {
    x.sample("weir_upstream_requests_total", {{"upstream", u.name}, {"server", s.address}},
             s.traffic.requests);
  });
  x.family("weir_upstream_responses_total", "counter",
           "Responses from an upstream server, by status class.");
  each([&](const U& u, const S& s) {
    for (size_t c = 1; c < s.traffic.responses.size(); ++c)
      x.sample("weir_upstream_responses_total",
               {{"upstream", u.name}, {"server", s.address}, {"class", kClasses[c]}},
               s.traffic.responses[c]);
  });
  x.family("weir_upstream_in_flight", "gauge", "Exchanges in progress with an upstream server.");
  each([&](const U& u, const S& s) {
    x.sample("weir_upstream_in_flight", {{"upstream", u.name}, {"server", s.address}}, s.in_flight);
  });
  x.family("weir_upstream_idle_connections", "gauge",
           "Idle keep-alive connections to an upstream server.");
  each([&](const U& u, const S& s) {
    x.sample("weir_upstream_idle_connections", {{"upstream", u.name}, {"server", s.address}},
             s.idle_connections);
  });
  x.family("weir_upstream_weight", "gauge", "Effective balancing weight of an upstream server.");
  each([&](const U& u, const S& s) {
    x.sample("weir_upstream_weight", {{"upstream", u.name}, {"server", s.address}},
             static_cast<uint64_t>(s.weight < 0 ? 0 : s.weight));
  });
  x.family("weir_upstream_state", "gauge",
           "1 for the administrative state an upstream server is in, 0 for the others.");
  each([&](const U& u, const S& s) {
    for (std::string_view state : kStates)
      x.sample("weir_upstream_state",
               {{"upstream", u.name}, {"server", s.address}, {"state", state}},
               s.state == state ? 1 : 0);
  });
  x.family("weir_upstream_failures_total", "counter",
           "Exchanges that failed on an upstream server (any reason).");
  each([&](const U& u, const S& s) {
    x.sample("weir_upstream_failures_total", {{"upstream", u.name}, {"server", s.address}},
             s.failures);
  });
  x.family("weir_upstream_connect_failures_total", "counter",
           "Connections to an upstream server refused, unreachable or timed out.");
  each([&](const U& u, const S& s) {
    x.sample("weir_upstream_connect_failures_total", {{"upstream", u.name}, {"server", s.address}},
             s.connect_failures);
  });
  x.family("weir_upstream_request_duration_seconds", "histogram",
           "Time from the request start to the end of the response, per upstream server.");
  each([&](const U& u, const S& s) {
    x.histogram("weir_upstream_request_duration_seconds",
                {{"upstream", u.name}, {"server", s.address}}, s.latency);
  });
  return x.take();
}

}  // namespace weir::admin
