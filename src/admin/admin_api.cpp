#include "admin/admin_api.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "admin/config_json.h"
#include "core/ascii.h"
#include "core/log.h"
#include "net/socket_address.h"
#include "proxy/snapshot.h"

namespace weir::admin {
namespace {

using json = nlohmann::ordered_json;

constexpr std::string_view kReadOnly = "GET, HEAD";
constexpr int kMinWeight = 1;
constexpr int kMaxWeight = 1000;

uint64_t unixMs() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

std::string text(const json& j) {
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

AdminResponse jsonResponse(int status, const json& body) {
  AdminResponse r;
  r.status = status;
  r.body = text(body);
  return r;
}

AdminResponse errorResponse(int status, const std::string& message) {
  return jsonResponse(status, json{{"error", message}});
}

bool isReadOnly(std::string_view method) { return method == "GET" || method == "HEAD"; }

// A browser navigating to the page asks for HTML; curl and API clients do not.
bool acceptsHtml(const AdminRequest& request) {
  const std::string* accept = request.head.find("accept");
  return accept && accept->find("text/html") != std::string::npos;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

const server::ServerReport* findServer(const server::StatsReport& report,
                                       const std::string& upstream, const std::string& address) {
  for (const auto& u : report.upstreams)
    if (u.name == upstream)
      for (const auto& s : u.servers)
        if (s.address == address) return &s;
  return nullptr;
}

}  // namespace

bool splitPath(std::string_view path, std::vector<std::string>& segments) {
  segments.clear();
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view raw = path.substr(start, end - start);
    if (!raw.empty()) {
      std::string decoded;
      for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '%') {
          decoded += raw[i];
          continue;
        }
        if (i + 2 >= raw.size()) return false;
        const int hi = hexValue(raw[i + 1]), lo = hexValue(raw[i + 2]);
        if (hi < 0 || lo < 0) return false;
        const char c = static_cast<char>(hi * 16 + lo);
        if (c == '\0') return false;
        decoded += c;
        i += 2;
      }
      segments.push_back(std::move(decoded));
    }
    start = end + 1;
  }
  return true;
}

bool dashboardOrigin(const AdminRequest& request, bool token_required) {
  const std::string* origin = request.head.find("origin");
  const std::string* host = request.head.find("host");
  if (!origin || !host || host->empty()) return false;
  constexpr std::string_view kScheme = "http://";  // the admin endpoint has no TLS
  if (origin->size() != kScheme.size() + host->size() || !istartsWith(*origin, kScheme) ||
      !iequals(std::string_view(*origin).substr(kScheme.size()), *host))
    return false;
  if (const std::string* site = request.head.find("sec-fetch-site"); site && *site != "same-origin")
    return false;
  if (token_required) return true;
  // Host without its port: "[::1]:9901" -> "[::1]", "127.0.0.1:9901" -> "127.0.0.1".
  std::string_view name = *host;
  const size_t colon = name.rfind(':');
  if (colon != std::string_view::npos && name.find(']', colon) == std::string_view::npos)
    name = name.substr(0, colon);
  if (iequals(name, "localhost") || name == "[::1]") return true;
  return name.starts_with("127.") && net::SocketAddress::parseNumeric(std::string(name), 0);
}

bool secretEquals(std::string_view given, std::string_view expected) {
  unsigned diff = given.size() == expected.size() ? 0u : 1u;
  if (expected.empty()) return given.empty();
  for (size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i]) ^
            static_cast<unsigned char>(expected[i % expected.size()]);
  return diff == 0;
}

AdminApi::AdminApi(server::Server& server) : server_(server), dashboard_(server) {
  if (auto cfg = server.config(); cfg && cfg->admin) startup_token_ = cfg->admin->token;
}

ProcessInfo AdminApi::processInfo() const {
  ProcessInfo info;
  info.generation = server_.generation();
  const uint64_t now = unixMs();
  const uint64_t started = server_.startedAtUnixMs();
  info.uptime_seconds = now > started ? static_cast<double>(now - started) / 1000.0 : 0.0;
  const server::ReloadResult& last = server_.lastReload();
  info.last_reload_ok = last.ok;
  info.last_reload_generation = last.generation;
  info.last_reload_at_unix_ms = last.at_unix_ms;
  info.last_reload_errors = last.errors;
  info.reload_failures = server_.reloadFailures();
  return info;
}

bool AdminApi::tokenRequired() const {
  auto cfg = server_.config();
  return !(cfg && cfg->admin ? cfg->admin->token : startup_token_).empty();
}

bool AdminApi::authorized(const AdminRequest& request) const {
  auto cfg = server_.config();
  const std::string& token = cfg && cfg->admin ? cfg->admin->token : startup_token_;
  if (token.empty()) return true;
  const std::string* header = request.head.find("authorization");
  if (!header) return false;
  std::string_view value = *header;
  constexpr std::string_view kScheme = "bearer ";
  if (!istartsWith(value, kScheme)) return false;
  value.remove_prefix(kScheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return secretEquals(value, token);
}

void AdminApi::handle(AdminRequest request, Reply reply) {
  const std::string& method = request.head.method;
  std::string_view target = request.head.target;
  if (target.empty() || target.front() != '/') {
    reply(errorResponse(400, "request target must be a path"));
    return;
  }
  const size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  std::vector<std::string> seg;
  if (!splitPath(path, seg)) {
    reply(errorResponse(400, "malformed percent-encoding in the path"));
    return;
  }
  // A browser sends Origin with every cross-site POST (a form needs no CORS preflight): a web
  // page must not drive a loopback admin endpoint, token or not. curl and scripts send none.
  // The dashboard's own buttons are the exception (same origin; the token rules still apply).
  if (!isReadOnly(method) && request.head.find("origin") &&
      !dashboardOrigin(request, tokenRequired())) {
    log::warn("admin: refused cross-origin ", method, " ", path, " from ", request.client_ip);
    reply(errorResponse(403, "requests from a browser page (with Origin) may not change state"));
    return;
  }
  if (!isReadOnly(method) && !authorized(request)) {
    log::warn("admin: unauthorized ", method, " ", path, " from ", request.client_ip);
    AdminResponse r = errorResponse(401, "unauthorized");
    r.headers.push_back({"WWW-Authenticate", "Bearer"});
    reply(std::move(r));
    return;
  }
  // Answers 405 (with Allow) unless the method is one of `allow` (HEAD goes with GET).
  auto allowed = [&](std::string_view allow) {
    const bool ok = allow == kReadOnly ? isReadOnly(method) : method == allow;
    if (!ok) {
      AdminResponse r = errorResponse(405, "method " + method + " not allowed");
      r.headers.push_back({"Allow", std::string(allow)});
      reply(std::move(r));
    }
    return ok;
  };
  const size_t n = seg.size();

  // The dashboard: the page (at "/" for browsers, which ask for HTML; the endpoint list stays
  // there for everyone else), its files, /stats/history and /events.
  const bool dashboard_path =
      (n == 1 && (seg[0] == "dashboard" || seg[0] == "dashboard.js" || seg[0] == "dashboard.css" ||
                  seg[0] == "chart.umd.js" || seg[0] == "events")) ||
      (n == 2 && seg[0] == "stats" && seg[1] == "history");
  if (dashboard_path || (n == 0 && isReadOnly(method) && acceptsHtml(request))) {
    if (allowed(kReadOnly)) dashboard_.handle(request, path, query, reply);
    return;
  }

  if (n == 0) {
    if (!allowed(kReadOnly)) return;
    reply(jsonResponse(200, json{{"endpoints",
                                  {"GET /healthz", "GET /readyz", "GET /stats", "GET /stats.csv",
                                   "GET /metrics", "GET /upstreams", "GET /upstreams/NAME",
                                   "POST /upstreams/NAME/servers/ADDRESS/drain",
                                   "POST /upstreams/NAME/servers/ADDRESS/disable",
                                   "POST /upstreams/NAME/servers/ADDRESS/enable",
                                   "PUT /upstreams/NAME/servers/ADDRESS/weight", "GET /config",
                                   "POST /config/validate", "POST /reload", "GET /dashboard",
                                   "GET /stats/history", "GET /events"}}}));
    return;
  }
  const std::string& first = seg[0];
  if (n == 1 && first == "healthz") {
    if (allowed(kReadOnly)) reply(jsonResponse(200, json{{"status", "ok"}}));
    return;
  }
  if (n == 1 && first == "readyz") {
    if (!allowed(kReadOnly)) return;
    const bool ready = server_.ready();
    reply(jsonResponse(ready ? 200 : 503, json{{"status", ready ? "ready" : "not ready"}}));
    return;
  }
  if (n == 1 && (first == "stats" || first == "stats.csv" || first == "metrics")) {
    if (allowed(kReadOnly)) getStats(std::move(reply), first == "stats.csv", first == "metrics");
    return;
  }
  if (first == "upstreams") {
    if (n == 1) {
      if (allowed(kReadOnly)) getUpstreams(std::move(reply));
      return;
    }
    if (n == 2) {
      if (allowed(kReadOnly)) getUpstream(seg[1], std::move(reply));
      return;
    }
    if (n == 5 && seg[2] == "servers") {
      const std::string& action = seg[4];
      if (action == "drain" || action == "disable" || action == "enable") {
        if (allowed("POST")) setServer(request, seg[1], seg[3], action, std::move(reply));
        return;
      }
      if (action == "weight") {
        if (allowed("PUT")) setServer(request, seg[1], seg[3], action, std::move(reply));
        return;
      }
    }
  }
  if (first == "config") {
    if (n == 1) {
      if (allowed(kReadOnly)) reply(jsonResponse(200, configJson(*server_.config())));
      return;
    }
    if (n == 2 && seg[1] == "validate") {
      if (allowed("POST")) validateConfig(request, std::move(reply));
      return;
    }
  }
  if (n == 1 && first == "reload") {
    if (allowed("POST")) reload(request, std::move(reply));
    return;
  }
  reply(errorResponse(404, "no such endpoint: " + std::string(path)));
}

// The workers' counters arrive later: the answer is written from collectStats' callback, which
// touches only what it captured (the session may be gone by then; Reply knows).
void AdminApi::getStats(Reply reply, bool csv, bool prometheus) {
  ProcessInfo info = processInfo();
  server_.collectStats([reply = std::move(reply), info = std::move(info), csv,
                        prometheus](server::StatsReport report) {
    AdminResponse r;
    if (csv) {
      r.content_type = "text/csv; charset=utf-8";
      r.body = statsCsv(report);
    } else if (prometheus) {
      r.content_type = std::string(kPrometheusContentType);
      r.body = statsPrometheus(report, info);
    } else {
      r.body = text(statsJson(report, info));
    }
    reply(std::move(r));
  });
}

void AdminApi::getUpstreams(Reply reply) {
  server_.collectStats([reply = std::move(reply)](server::StatsReport report) {
    json list = json::array();
    for (const auto& u : report.upstreams) list.push_back(upstreamJson(u));
    reply(jsonResponse(200, json{{"upstreams", std::move(list)}}));
  });
}

void AdminApi::getUpstream(const std::string& name, Reply reply) {
  if (!server_.config()->findUpstream(name)) {
    reply(errorResponse(404, "no upstream named '" + name + "'"));
    return;
  }
  server_.collectStats([reply = std::move(reply), name](server::StatsReport report) {
    for (const auto& u : report.upstreams) {
      if (u.name == name) {
        reply(jsonResponse(200, upstreamJson(u)));
        return;
      }
    }
    reply(errorResponse(404, "no upstream named '" + name + "'"));
  });
}

// drain | disable | enable | weight, applied on every worker's cluster; the answer is the
// server's state read back from the workers afterwards (their mailboxes keep the order).
void AdminApi::setServer(const AdminRequest& request, const std::string& upstream,
                         const std::string& address, std::string_view action, Reply reply) {
  const config::Upstream* u = server_.config()->findUpstream(upstream);
  if (!u) {
    reply(errorResponse(404, "no upstream named '" + upstream + "'"));
    return;
  }
  bool known = false;
  for (const auto& s : u->servers) known = known || s.address.text == address;
  if (!known) {
    reply(errorResponse(404, "upstream '" + upstream + "' has no server '" + address + "'"));
    return;
  }

  std::string change;
  if (action == "weight") {
    json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    const json* w = body.is_object() && body.contains("weight") ? &body["weight"] : nullptr;
    if (!w || !w->is_number_integer()) {
      reply(errorResponse(400, "body must be JSON {\"weight\": N} with N in 1..1000"));
      return;
    }
    const int64_t weight = w->get<int64_t>();
    if (weight < kMinWeight || weight > kMaxWeight) {
      reply(errorResponse(400, "weight must be 1..1000, got " + std::to_string(weight)));
      return;
    }
    const int value = static_cast<int>(weight);
    server_.forEachWorker([upstream, address, value](server::Worker& worker) {
      if (auto* c = worker.findCluster(upstream))
        if (auto* ep = c->find(address)) c->setWeight(*ep, value);
    });
    change = "weight " + std::to_string(value);
  } else {
    const upstream::AdminState state = action == "drain"     ? upstream::AdminState::Draining
                                       : action == "disable" ? upstream::AdminState::Disabled
                                                             : upstream::AdminState::Enabled;
    server_.forEachWorker([upstream, address, state](server::Worker& worker) {
      if (auto* c = worker.findCluster(upstream))
        if (auto* ep = c->find(address)) c->setAdminState(*ep, state);
    });
    change = std::string(upstream::adminStateName(state));
  }
  log::notice("admin: ", request.client_ip, " set ", upstream, " server ", address, ": ", change);

  server_.collectStats([reply = std::move(reply), upstream, address](server::StatsReport report) {
    const server::ServerReport* s = findServer(report, upstream, address);
    if (!s) {
      reply(errorResponse(404, "upstream '" + upstream + "' has no server '" + address + "'"));
      return;
    }
    reply(jsonResponse(200, json{{"upstream", upstream}, {"server", serverJson(*s)}}));
  });
}

void AdminApi::validateConfig(const AdminRequest& request, Reply reply) {
  config::LoadResult loaded = config::loadString(request.body, "<request>");
  if (!loaded.ok()) {
    json errors = json::array();
    for (const auto& e : loaded.errors) errors.push_back(e.str());
    reply(jsonResponse(200, json{{"valid", false}, {"errors", std::move(errors)}}));
    return;
  }
  // As a reload would: routes compiled, server addresses resolved, TLS files loaded.
  auto candidate = std::make_shared<const config::Config>(std::move(*loaded.config));
  auto built = proxy::Snapshot::build(candidate, 0);
  if (!built.ok()) {
    json errors = json::array();
    for (const auto& e : built.errors) errors.push_back(e.str());
    reply(jsonResponse(200, json{{"valid", false}, {"errors", std::move(errors)}}));
    return;
  }
  reply(jsonResponse(
      200, json{{"valid", true}, {"changes", configChanges(*server_.config(), *candidate)}}));
}

void AdminApi::reload(const AdminRequest& request, Reply reply) {
  log::notice("admin: ", request.client_ip, " requested a reload");
  server::ReloadResult result = server_.reload();
  if (result.ok) {
    reply(jsonResponse(200, json{{"ok", true}, {"generation", result.generation}}));
    return;
  }
  reply(jsonResponse(
      409, json{{"ok", false}, {"generation", result.generation}, {"errors", result.errors}}));
}

}  // namespace weir::admin
