// Renders a merged StatsReport for the admin endpoint: JSON (/stats, /upstreams), CSV
// (/stats.csv) and Prometheus text exposition format 0.0.4 (/metrics). Pure functions on plain
// values; any thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/stats_report.h"

namespace weir::admin {

/// What the control thread knows besides the workers' counters.
struct ProcessInfo {
  uint64_t generation = 0;
  double uptime_seconds = 0;
  bool last_reload_ok = true;
  uint64_t last_reload_generation = 0;
  uint64_t last_reload_at_unix_ms = 0;
  std::vector<std::string> last_reload_errors;
  uint64_t reload_failures = 0;
};

/// {p50, p90, p99} in milliseconds (0 when nothing was observed).
nlohmann::ordered_json latencyJson(const LatencyHistogram& h);
nlohmann::ordered_json serverJson(const server::ServerReport& s);
/// {name, servers: [...]}.
nlohmann::ordered_json upstreamJson(const server::UpstreamReport& u);
/// The whole /stats document.
nlohmann::ordered_json statsJson(const server::StatsReport& report, const ProcessInfo& info);

/// Header row, then one row per upstream server (RFC 4180 quoting, CRLF line ends).
std::string statsCsv(const server::StatsReport& report);

/// Prometheus text format 0.0.4; every metric prefixed `weir_`, each family contiguous.
std::string statsPrometheus(const server::StatsReport& report, const ProcessInfo& info);
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

/// A Unix time in milliseconds as RFC 3339 UTC, e.g. "2024-05-01T12:00:00.123Z".
std::string rfc3339(uint64_t unix_ms);

}  // namespace weir::admin
