// The configuration schema as plain values: what the YAML loader produces and the Snapshot is
// built from. Pure (no <uv.h>); immutable once loaded; shared read-only across threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace weir::config {

using std::chrono::milliseconds;

/// Where a value stood in its file (1-based line and column); line 0 when unknown.
struct Position {
  int line = 0;
  int col = 0;
};

/// host:port as written. `host` has no brackets for IPv6 ("::1").
struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string text;  // as written in the file, e.g. "[::1]:8080"
};

struct Header {
  std::string name;
  std::string value;
};

/// Conditions of a route; each one present must hold.
struct RouteMatch {
  std::optional<std::string> host;         // exact or "*.suffix", case-insensitive, port ignored
  std::optional<std::string> path;         // exact
  std::optional<std::string> path_prefix;  // prefix
};

/// A locally generated answer.
struct Respond {
  int status = 200;
  std::string body;
  std::vector<Header> headers;
};

/// One route: a match and exactly one action.
struct Route {
  RouteMatch match;
  std::optional<std::string> upstream;  // name of an entry in Config::upstreams
  std::optional<Respond> respond;
  Position pos;
};

struct Listener {
  std::string name;
  HostPort listen;
  std::vector<Route> routes;  // first match wins
  Position pos;
};

struct Server {
  HostPort address;
  int weight = 1;  // 1..1000
  Position pos;
};

struct Keepalive {
  size_t max_idle = 64;                 // idle connections kept per worker and server
  milliseconds idle_timeout{60'000};
};

struct UpstreamTimeouts {
  milliseconds connect{2'000};
  milliseconds response{60'000};  // from request sent to first response byte, and between reads
};

struct Upstream {
  std::string name;
  std::vector<Server> servers;
  Keepalive keepalive;
  UpstreamTimeouts timeouts;
  Position pos;
};

struct Limits {
  uint64_t max_connections = 10'000;          // client connections, whole process
  uint64_t max_header_bytes = 16 * 1024;      // request line + header section
  uint64_t max_uri_bytes = 8 * 1024;          // request target
  uint64_t max_body_bytes = 100ull << 20;     // request body
};

struct Timeouts {
  milliseconds client_header{10'000};   // whole request head must arrive within this
  milliseconds client_body{60'000};     // between two reads of the request body
  milliseconds keepalive{75'000};       // idle client connection between requests
  milliseconds shutdown_grace{30'000};  // in-flight requests on SIGTERM
};

enum class LogFormat { Combined, Json };

struct AccessLog {
  std::string path = "stdout";  // "stdout", "stderr", "off", or a file path
  LogFormat format = LogFormat::Combined;
};

struct Config {
  std::string file;  // where it was loaded from
  int workers = 0;   // 0 = auto (number of cores)
  std::vector<Listener> listeners;
  std::vector<Upstream> upstreams;
  Limits limits;
  Timeouts timeouts;
  AccessLog access_log;

  const Upstream* findUpstream(const std::string& name) const {
    for (const auto& u : upstreams)
      if (u.name == name) return &u;
    return nullptr;
  }
};

/// One config problem, printed as `FILE:LINE:COL: path.to.key: message`.
struct ConfigError {
  std::string file;
  Position pos;
  std::string path;  // e.g. "upstreams[0].servers[1].weight"
  std::string message;
  std::string str() const;
};

/// Either a config (errors empty) or every error found (config empty).
struct LoadResult {
  std::optional<Config> config;
  std::vector<ConfigError> errors;
  bool ok() const { return config.has_value(); }
};

/// Reads, parses and validates a YAML file. Never throws.
LoadResult loadFile(const std::string& path);
/// Same for YAML text; `name` stands for the file name in errors.
LoadResult loadString(const std::string& yaml, const std::string& name);

}  // namespace weir::config
