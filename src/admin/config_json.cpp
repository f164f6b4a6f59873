#include "admin/config_json.h"

#include <map>
#include <string>

namespace weir::admin {
namespace {

using json = nlohmann::ordered_json;

json headersJson(const std::vector<config::Header>& headers) {
  json out = json::array();
  for (const auto& h : headers) out.push_back({{"name", h.name}, {"value", h.value}});
  return out;
}

json timeoutsJson(const config::UpstreamTimeouts& t) {
  return {{"connect", durationText(t.connect)}, {"response", durationText(t.response)}};
}

json headerOpsJson(const config::HeaderOps& ops) {
  return {{"set", headersJson(ops.set)}, {"add", headersJson(ops.add)}, {"remove", ops.remove}};
}

json matchJson(const config::RouteMatch& m) {
  json out = json::object();
  if (m.host) out["host"] = *m.host;
  if (m.host_regex) out["host_regex"] = *m.host_regex;
  if (m.path) out["path"] = *m.path;
  if (m.path_prefix) out["path_prefix"] = *m.path_prefix;
  if (m.path_regex) out["path_regex"] = *m.path_regex;
  if (!m.methods.empty()) out["methods"] = m.methods;
  if (!m.headers.empty()) {
    json headers = json::array();
    for (const auto& h : m.headers) {
      json entry = {{"name", h.name}};
      switch (h.kind) {
        case config::HeaderMatch::Kind::Exact:
          entry["exact"] = h.value;
          break;
        case config::HeaderMatch::Kind::Regex:
          entry["regex"] = h.value;
          break;
        case config::HeaderMatch::Kind::Present:
          entry["present"] = true;
          break;
        case config::HeaderMatch::Kind::Absent:
          entry["present"] = false;
          break;
      }
      headers.push_back(std::move(entry));
    }
    out["headers"] = std::move(headers);
  }
  if (!m.query.empty()) {
    json query = json::array();
    for (const auto& q : m.query) query.push_back({{"name", q.name}, {"value", q.value}});
    out["query"] = std::move(query);
  }
  return out;
}

json routeJson(const config::Route& r) {
  json out = {{"match", matchJson(r.match)}};
  if (r.upstream) out["upstream"] = *r.upstream;
  if (r.respond) {
    out["respond"] = {{"status", r.respond->status},
                      {"body", r.respond->body},
                      {"headers", headersJson(r.respond->headers)}};
  }
  if (r.redirect)
    out["redirect"] = {{"status", r.redirect->status}, {"location", r.redirect->location}};
  if (r.strip_prefix) out["strip_prefix"] = *r.strip_prefix;
  if (r.add_prefix) out["add_prefix"] = *r.add_prefix;
  if (r.rewrite) out["rewrite"] = {{"regex", r.rewrite->regex}, {"replace", r.rewrite->replace}};
  if (!r.request_headers.empty()) out["request_headers"] = headerOpsJson(r.request_headers);
  if (!r.response_headers.empty()) out["response_headers"] = headerOpsJson(r.response_headers);
  if (r.timeouts) out["timeouts"] = timeoutsJson(*r.timeouts);
  if (r.host_rewrite) out["host_rewrite"] = *r.host_rewrite;
  return out;
}

json listenerJson(const config::Listener& l) {
  json routes = json::array();
  for (const auto& r : l.routes) routes.push_back(routeJson(r));
  return {{"name", l.name}, {"listen", l.listen.text}, {"routes", std::move(routes)}};
}

json serverJson(const config::Server& s) {
  return {{"address", s.address.text},
          {"weight", s.weight},
          {"backup", s.backup},
          {"max_conns", s.max_conns}};
}

json upstreamJson(const config::Upstream& u) {
  json servers = json::array();
  for (const auto& s : u.servers) servers.push_back(serverJson(s));
  json out = {{"name", u.name}, {"servers", std::move(servers)}, {"balance", u.balance}};
  if (u.hash_key) out["hash_key"] = u.hash_key->text;
  out["slow_start"] = durationText(u.slow_start);
  if (u.sticky)
    out["sticky"] = {{"cookie", u.sticky->cookie}, {"ttl", durationText(u.sticky->ttl)}};
  out["keepalive"] = {{"max_idle", u.keepalive.max_idle},
                      {"idle_timeout", durationText(u.keepalive.idle_timeout)}};
  out["timeouts"] = timeoutsJson(u.timeouts);
  return out;
}

// Entries keyed by identity; added / removed / changed (JSON forms differ), each in key order.
json diff(const std::map<std::string, json>& before, const std::map<std::string, json>& after) {
  json added = json::array(), removed = json::array(), changed = json::array();
  for (const auto& [key, value] : after) {
    auto it = before.find(key);
    if (it == before.end()) {
      added.push_back(key);
    } else if (it->second != value) {
      changed.push_back(key);
    }
  }
  for (const auto& [key, value] : before)
    if (!after.count(key)) removed.push_back(key);
  return {{"added", std::move(added)},
          {"removed", std::move(removed)},
          {"changed", std::move(changed)}};
}

struct Keyed {
  std::map<std::string, json> listeners, routes, upstreams, servers;
};

Keyed keyed(const config::Config& c) {
  Keyed k;
  for (const auto& l : c.listeners) {
    k.listeners[l.name] = listenerJson(l);
    for (size_t i = 0; i < l.routes.size(); ++i)
      k.routes[l.name + "/" + std::to_string(i)] = routeJson(l.routes[i]);
  }
  for (const auto& u : c.upstreams) {
    k.upstreams[u.name] = upstreamJson(u);
    for (const auto& s : u.servers) k.servers[u.name + "/" + s.address.text] = serverJson(s);
  }
  return k;
}

}  // namespace

std::string durationText(std::chrono::milliseconds d) {
  const int64_t ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1'000 == 0) return std::to_string(ms / 1'000) + "s";
  return std::to_string(ms) + "ms";
}

json configJson(const config::Config& c) {
  json listeners = json::array();
  for (const auto& l : c.listeners) listeners.push_back(listenerJson(l));
  json upstreams = json::array();
  for (const auto& u : c.upstreams) upstreams.push_back(upstreamJson(u));
  json admin = nullptr;
  if (c.admin) {
    // The token itself is a secret: only whether one is set.
    admin = {{"listen", c.admin->listen.text},
             {"token_file", c.admin->token_file},
             {"token_set", !c.admin->token.empty()}};
  }
  return {
      {"file", c.file},
      {"workers", c.workers > 0 ? json(c.workers) : json("auto")},
      {"listeners", std::move(listeners)},
      {"upstreams", std::move(upstreams)},
      {"limits",
       {{"max_connections", c.limits.max_connections},
        {"max_header_bytes", c.limits.max_header_bytes},
        {"max_uri_bytes", c.limits.max_uri_bytes},
        {"max_body_bytes", c.limits.max_body_bytes}}},
      {"timeouts",
       {{"client_header", durationText(c.timeouts.client_header)},
        {"client_body", durationText(c.timeouts.client_body)},
        {"keepalive", durationText(c.timeouts.keepalive)},
        {"shutdown_grace", durationText(c.timeouts.shutdown_grace)}}},
      {"access_log",
       {{"path", c.access_log.path},
        {"format", c.access_log.format == config::LogFormat::Json ? "json" : "combined"}}},
      {"admin", std::move(admin)},
  };
}

json configChanges(const config::Config& current, const config::Config& next) {
  const Keyed a = keyed(current), b = keyed(next);
  const json ja = configJson(current), jb = configJson(next);
  json settings = json::array();
  for (const char* key : {"workers", "limits", "timeouts", "access_log", "admin"})
    if (ja[key] != jb[key]) settings.push_back(key);
  return {
      {"listeners", diff(a.listeners, b.listeners)},    {"routes", diff(a.routes, b.routes)},
      {"upstreams", diff(a.upstreams, b.upstreams)},    {"servers", diff(a.servers, b.servers)},
      {"settings", {{"changed", std::move(settings)}}},
  };
}

}  // namespace weir::admin
