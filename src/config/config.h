// The configuration schema as plain values: what the YAML loader produces and the Snapshot is
// built from. Pure (no <uv.h>); immutable once loaded; shared read-only across threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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

struct UpstreamTimeouts {
  milliseconds connect{2'000};
  milliseconds response{60'000};  // from request sent to first response byte, and between reads
};

/// One header condition of a route. Names compare case-insensitively; the first field of that
/// name is the one tested.
struct HeaderMatch {
  enum class Kind : uint8_t {
    Exact,    // the value equals `value`, byte for byte
    Regex,    // RE2 `value` matches somewhere in the value (written "~regex" in the file)
    Present,  // a field of that name exists ({present: true})
    Absent,   // none does ({present: false})
  };
  std::string name;
  Kind kind = Kind::Exact;
  std::string value;  // Exact: the value; Regex: the pattern without '~'; else empty
};

/// One query condition: the first `name=` parameter of the query string equals `value` exactly
/// (no percent-decoding; "name" alone counts as an empty value).
struct QueryMatch {
  std::string name;
  std::string value;
};

/// Conditions of a route; each one present must hold. Regexes are RE2 syntax, checked at load.
struct RouteMatch {
  std::optional<std::string> host;         // exact or "*.suffix", case-insensitive, port ignored
  std::optional<std::string> host_regex;   // full match against the host without port, any case
  std::optional<std::string> path;         // exact
  std::optional<std::string> path_prefix;  // prefix
  std::optional<std::string> path_regex;   // matches somewhere in the path (nginx "location ~")
  std::vector<std::string> methods;        // any of these (upper-case, exact); empty: any method
  std::vector<HeaderMatch> headers;        // all of these
  std::vector<QueryMatch> query;           // all of these
};

/// A locally generated answer.
struct Respond {
  int status = 200;
  std::string body;
  std::vector<Header> headers;
};

/// Placeholders a redirect location may use: the request's scheme ("http"), host (without port),
/// uri (path and "?query" as received), path (without query) and query (without '?').
inline constexpr std::string_view kRedirectPlaceholders[] = {"scheme", "host", "uri", "path",
                                                             "query"};

/// A locally generated redirect.
struct Redirect {
  int status = 302;      // 301, 302, 307 or 308
  std::string location;  // may hold {placeholders} from kRedirectPlaceholders, checked at load
};

/// A regex substitution on the path sent upstream: RE2::Replace (first match; \0..\9 in
/// `replace` name the groups), checked at load.
struct Rewrite {
  std::string regex;
  std::string replace;
};

/// Header edits, applied in this order: remove every field named in `remove`, replace every
/// field named in `set` with one field, append each of `add`. Names compare case-insensitively.
struct HeaderOps {
  std::vector<Header> set;
  std::vector<Header> add;
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
};

/// Retries of failed attempts on other servers.
struct Retries {
  uint32_t attempts = 2;  // retries after the first try
  bool on_connect_failure = true;
  bool on_timeout = true;
  bool on_reset = true;
  std::vector<int> on_statuses = {502, 503, 504};
  double budget = 0.2;  // retries in flight / requests in flight
  milliseconds per_try_timeout{5'000};
  milliseconds backoff{25};
  uint64_t max_retry_body = 64 * 1024;  // bodies larger than this are not retried
};

/// One route: a match, exactly one action (upstream, respond or redirect), and for upstream
/// routes optional modifiers of what is sent upstream and returned.
struct Route {
  RouteMatch match;
  std::optional<std::string> upstream;  // name of an entry in Config::upstreams
  std::optional<Respond> respond;
  std::optional<Redirect> redirect;

  // Modifiers; the loader allows them only with `upstream`. The path sent upstream is the
  // request's path with strip_prefix removed, then add_prefix prepended, then rewrite applied.
  std::optional<std::string> strip_prefix;  // starts with '/'
  std::optional<std::string> add_prefix;    // starts with '/'
  std::optional<Rewrite> rewrite;
  HeaderOps request_headers;                 // on the request sent upstream
  HeaderOps response_headers;                // on the response sent to the client
  std::optional<Retries> retries;            // replaces the upstream's
  std::optional<UpstreamTimeouts> timeouts;  // replaces the upstream's; keys not given in
                                             // the file are the upstream's values
  std::optional<std::string> host_rewrite;   // Host sent upstream: name or address[:port]
  Position pos;
};

/// TLS termination on a listener. Certificates are chosen by SNI: exact names, then
/// wildcards, then the first.
struct ListenerTls {
  struct Certificate {
    std::string cert;  // PEM chain file
    std::string key;
  };
  std::vector<Certificate> certificates;
  std::string min_version = "1.2";  // 1.2 | 1.3
  std::string ciphers = "default";
  std::vector<std::string> alpn = {"http/1.1"};
  bool session_tickets = true;
  std::string client_ca;                // mutual TLS when set
  std::string client_auth = "require";  // require | optional (with client_ca)
  std::string ocsp_staple;              // DER response file
  Position pos;
};

struct Listener {
  std::string name;
  HostPort listen;
  std::vector<Route> routes;  // first match wins
  std::optional<ListenerTls> tls;
  bool https_redirect = false;  // plain listener: answer every request with 301 to https://
  Position pos;
};

/// TLS to the servers of an upstream.
struct UpstreamTls {
  bool enabled = true;
  bool verify = true;
  std::string ca_file;      // empty: the system store
  std::string server_name;  // SNI and verified name; empty: the server's host
  std::string client_cert;
  std::string client_key;
  Position pos;
};

struct Server {
  HostPort address;
  int weight = 1;          // 1..1000
  bool backup = false;     // used only when no primary server is available
  uint32_t max_conns = 0;  // requests in flight per worker; 0 = no cap
  Position pos;
};

/// What a hashing policy (ring_hash, maglev) hashes.
struct HashKey {
  enum class Kind { ClientIp, Uri, Header, Cookie, Query } kind = Kind::ClientIp;
  std::string name;  // for header:/cookie:/query:
  std::string text;  // as written
};

/// Session affinity by cookie: the first response sets it, later requests follow it.
struct Sticky {
  std::string cookie;
  milliseconds ttl{3'600'000};
};

struct Keepalive {
  size_t max_idle = 64;  // idle connections kept per worker and server
  milliseconds idle_timeout{60'000};
};

/// Active health checks, run once per process from the control thread.
struct HealthCheck {
  enum class Type { Http, Tcp } type = Type::Http;
  std::string path = "/healthz";
  std::string host;  // Host header sent; empty: the server address
  std::string method = "GET";
  milliseconds interval{2'000};
  milliseconds timeout{1'000};
  int rise = 2;         // consecutive passes to become healthy
  int fall = 3;         // consecutive failures to become unhealthy
  int status_lo = 200;  // expect_status "200-399"
  int status_hi = 399;
  std::string expect_body;         // substring; empty: any body
  double jitter = 0.1;             // share of the interval
  bool initially_healthy = false;  // initial_state: healthy | unhealthy
  Position pos;
};

/// Passive checks (outlier detection) on real traffic.
struct Passive {
  uint32_t consecutive_failures = 5;
  milliseconds ejection{30'000};
  milliseconds max_ejection{300'000};
  uint32_t max_ejected_percent = 50;
  std::vector<int> failure_statuses;  // upstream statuses that count as failures (e.g. 503)
};

struct Upstream {
  std::string name;
  std::vector<Server> servers;
  std::string balance = "round_robin";  // round_robin | least_conn | random | p2c | ewma |
                                        // ring_hash | maglev | first
  std::optional<HashKey> hash_key;      // ring_hash and maglev
  milliseconds slow_start{0};           // weight ramp for a server that becomes available
  std::optional<Sticky> sticky;
  std::optional<HealthCheck> health_check;
  std::optional<Passive> passive;
  bool panic_fail_open = false;  // panic: fail_open | fail_closed (default)
  std::optional<Retries> retries;
  std::optional<UpstreamTls> tls;
  Keepalive keepalive;
  UpstreamTimeouts timeouts;
  Position pos;
};

struct Limits {
  uint64_t max_connections = 10'000;       // client connections, whole process
  uint64_t max_header_bytes = 16 * 1024;   // request line + header section
  uint64_t max_uri_bytes = 8 * 1024;       // request target
  uint64_t max_body_bytes = 100ull << 20;  // request body
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

/// Where server state changes are sent.
struct AlertEmail {
  std::string url;  // smtp://host:port or smtps://host:port
  std::string from;
  std::vector<std::string> to;
  std::string username;
  std::string password_file;
  std::string password;  // read from password_file at load time (never printed)
  bool starttls = true;
};

struct AlertWebhook {
  std::string url;
};

struct Alerts {
  std::optional<AlertEmail> email;
  std::optional<AlertWebhook> webhook;
  milliseconds batch{10'000};
};

/// The admin HTTP endpoint (served on the control thread). Absent: no admin endpoint.
struct Admin {
  HostPort listen;         // loopback by default; a non-loopback address needs a token
  std::string token_file;  // file holding the Bearer token; empty: no token
  std::string token;       // read from token_file at load time (never printed)
  Position pos;
};

struct Config {
  std::string file;  // where it was loaded from
  int workers = 0;   // 0 = auto (number of cores)
  std::vector<Listener> listeners;
  std::vector<Upstream> upstreams;
  Limits limits;
  Timeouts timeouts;
  AccessLog access_log;
  std::optional<Admin> admin;
  std::optional<Alerts> alerts;
  std::string pid_file = "/run/weir/weir.pid";  // "" or "off": none
  bool watch = false;                           // reload when the config file changes

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

/// Sorts errors into file order (line, then column); errors at one position keep their order.
void sortInFileOrder(std::vector<ConfigError>& errors);

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
