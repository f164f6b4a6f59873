#include "routing/route_table.h"

#include <re2/re2.h>

#include <algorithm>
#include <map>

#include "core/ascii.h"
#include "routing/route_actions.h"

namespace weir::routing {
namespace {

constexpr uint32_t kNone = UINT32_MAX;

std::string_view stripBrackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    return host.substr(1, host.size() - 2);
  return host;
}

std::unique_ptr<re2::RE2> compile(const std::string& pattern, bool case_sensitive) {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_case_sensitive(case_sensitive);
  return std::make_unique<re2::RE2>(pattern, options);
}

// The value of the first parameter called `name` in `query` ("a=1&b" has a = "1", b = "").
std::optional<std::string_view> queryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    size_t eq = part.find('=');
    if (part.substr(0, eq) == name)
      return eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string shown(std::string_view s) { return s.empty() ? "''" : std::string(s); }

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string actionOf(const config::Route& r) {
  if (r.upstream) return "upstream " + *r.upstream;
  if (r.respond) return "respond " + std::to_string(r.respond->status);
  if (r.redirect)
    return "redirect " + std::to_string(r.redirect->status) + " " + r.redirect->location;
  return "no action";
}

}  // namespace

struct RouteTable::Compiled {
  enum class HostRule : uint8_t { Any, Exact, Suffix };
  struct HeaderTest {
    std::string name;
    config::HeaderMatch::Kind kind = config::HeaderMatch::Kind::Exact;
    std::string value;
    std::unique_ptr<re2::RE2> regex;  // Kind::Regex only
  };

  HostRule host_rule = HostRule::Any;
  std::string host;  // lower-case; for Suffix the part after '*', e.g. ".example.com"
  std::optional<std::string> path;
  std::optional<std::string> path_prefix;
  std::unique_ptr<re2::RE2> host_regex;
  std::unique_ptr<re2::RE2> path_regex;
  std::vector<std::string> methods;
  std::vector<HeaderTest> headers;
  std::vector<config::QueryMatch> query;
  std::unique_ptr<re2::RE2> rewrite;
};

// A request as the conditions see it.
struct RouteTable::Prepared {
  std::string_view method;
  std::string_view host;  // hostOf(Host header)
  std::string_view path;
  std::string_view query;
  const HeaderLookup* headers;
};

// Which condition of a route fails first (None: all hold); `index` names the header or query
// condition.
struct RouteTable::Verdict {
  enum Condition : uint8_t {
    None,
    Host,
    HostRegex,
    Path,
    PathPrefix,
    PathRegex,
    Method,
    Header,
    Query
  };
  Condition failed = None;
  size_t index = 0;
  bool holds() const { return failed == None; }
};

struct RouteTable::PathIndex {
  StringIndex<Span> exact;               // route path -> routes
  StringIndex<Span> prefix;              // route path_prefix -> routes
  std::vector<uint32_t> prefix_lengths;  // of the keys of `prefix`, ascending, each once
  Span any;                              // routes with neither
  uint32_t exact_first = kNone;          // the lowest route index under `exact`
  uint32_t prefix_first = kNone;         // ... under `prefix`
  uint32_t first = kNone;                // ... anywhere in this bucket
};

RouteTable::RouteTable(RouteTable&&) noexcept = default;
RouteTable& RouteTable::operator=(RouteTable&&) noexcept = default;
RouteTable::~RouteTable() = default;

RouteTable::RouteTable(const std::vector<config::Route>& routes, std::string config_path)
    : config_(routes), config_path_(std::move(config_path)) {
  struct Bucket {
    std::map<std::string, std::vector<uint32_t>> exact, prefix;
    std::vector<uint32_t> any;
  };
  std::vector<Bucket> buckets;
  std::map<std::string, uint32_t> exact_hosts, suffix_hosts;
  std::optional<uint32_t> any_host;
  auto bucketFor = [&](std::map<std::string, uint32_t>& hosts, const std::string& key) {
    auto [it, fresh] = hosts.emplace(key, static_cast<uint32_t>(buckets.size()));
    if (fresh) buckets.emplace_back();
    return it->second;
  };

  using HostRule = Compiled::HostRule;
  routes_.resize(routes.size());
  for (size_t i = 0; i < routes.size(); ++i) {
    const config::RouteMatch& m = routes[i].match;
    Compiled& c = routes_[i];
    if (m.host) {
      std::string host = asciiLowered(stripBrackets(*m.host));
      if (!host.empty() && host.back() == '.') host.pop_back();
      if (host.size() >= 2 && host[0] == '*' && host[1] == '.') {
        c.host_rule = HostRule::Suffix;
        c.host = host.substr(1);  // keep the dot: ".example.com"
      } else {
        c.host_rule = HostRule::Exact;
        c.host = std::move(host);
      }
    }
    c.path = m.path;
    c.path_prefix = m.path_prefix;
    if (m.host_regex) c.host_regex = compile(*m.host_regex, /*case_sensitive=*/false);
    if (m.path_regex) c.path_regex = compile(*m.path_regex, /*case_sensitive=*/true);
    c.methods = m.methods;
    for (const config::HeaderMatch& h : m.headers) {
      Compiled::HeaderTest t{h.name, h.kind, h.value, nullptr};
      if (h.kind == config::HeaderMatch::Kind::Regex) t.regex = compile(h.value, true);
      c.headers.push_back(std::move(t));
    }
    c.query = m.query;
    if (routes[i].rewrite) c.rewrite = compile(routes[i].rewrite->regex, true);
    residual_.push_back(c.host_regex || c.path_regex || (c.path && c.path_prefix) ||
                        !c.methods.empty() || !c.headers.empty() || !c.query.empty());

    uint32_t b = 0;
    switch (c.host_rule) {
      case HostRule::Exact:
        b = bucketFor(exact_hosts, c.host);
        break;
      case HostRule::Suffix:
        b = bucketFor(suffix_hosts, c.host);
        break;
      case HostRule::Any:
        if (!any_host) {
          any_host = static_cast<uint32_t>(buckets.size());
          buckets.emplace_back();
        }
        b = *any_host;
        break;
    }
    const auto id = static_cast<uint32_t>(i);
    if (c.path)
      buckets[b].exact[*c.path].push_back(id);
    else if (c.path_prefix)
      buckets[b].prefix[*c.path_prefix].push_back(id);
    else
      buckets[b].any.push_back(id);
  }

  ids_.reserve(routes.size());
  auto store = [&](const std::vector<uint32_t>& list) {
    Span s{static_cast<uint32_t>(ids_.size()), static_cast<uint32_t>(list.size())};
    ids_.insert(ids_.end(), list.begin(), list.end());
    return s;
  };
  auto firstOf = [](const std::map<std::string, std::vector<uint32_t>>& lists) {
    uint32_t first = kNone;
    for (const auto& [key, list] : lists) first = std::min(first, list.front());
    return first;
  };
  paths_.resize(buckets.size());
  for (size_t b = 0; b < buckets.size(); ++b) {
    PathIndex& index = paths_[b];
    std::vector<std::pair<std::string, Span>> exact, prefix;
    for (const auto& [path, list] : buckets[b].exact) exact.emplace_back(path, store(list));
    for (const auto& [path, list] : buckets[b].prefix) {
      prefix.emplace_back(path, store(list));
      index.prefix_lengths.push_back(static_cast<uint32_t>(path.size()));
    }
    index.exact = StringIndex<Span>(exact, /*fold_case=*/false);
    index.prefix = StringIndex<Span>(prefix, /*fold_case=*/false);
    std::sort(index.prefix_lengths.begin(), index.prefix_lengths.end());
    index.prefix_lengths.erase(
        std::unique(index.prefix_lengths.begin(), index.prefix_lengths.end()),
        index.prefix_lengths.end());
    index.any = store(buckets[b].any);
    index.exact_first = firstOf(buckets[b].exact);
    index.prefix_first = firstOf(buckets[b].prefix);
    index.first = std::min({index.exact_first, index.prefix_first,
                            buckets[b].any.empty() ? kNone : buckets[b].any.front()});
  }
  auto hostIndex = [](const std::map<std::string, uint32_t>& hosts) {
    return StringIndex<uint32_t>({hosts.begin(), hosts.end()}, /*fold_case=*/true);
  };
  exact_hosts_ = hostIndex(exact_hosts);
  suffix_hosts_ = hostIndex(suffix_hosts);
  any_host_ = any_host;
}

size_t RouteTable::size() const { return routes_.size(); }

RouteTable::Verdict RouteTable::check(const Compiled& r, const Prepared& req,
                                      bool from_index) const {
  using V = Verdict;
  using HostRule = Compiled::HostRule;
  switch (from_index ? HostRule::Any : r.host_rule) {
    case HostRule::Any:
      break;
    case HostRule::Exact:
      if (!iequals(req.host, r.host)) return {V::Host};
      break;
    case HostRule::Suffix:
      // At least one character before the dot: "*.example.com" never matches "example.com".
      if (req.host.size() <= r.host.size() ||
          !iequals(req.host.substr(req.host.size() - r.host.size()), r.host))
        return {V::Host};
      break;
  }
  if (r.host_regex && !RE2::FullMatch(req.host, *r.host_regex)) return {V::HostRegex};
  if (r.path && !from_index && req.path != *r.path) return {V::Path};
  // From the index, a route with both is listed under its path, so its prefix is still open.
  if (r.path_prefix && (!from_index || r.path) && !req.path.starts_with(*r.path_prefix))
    return {V::PathPrefix};
  if (r.path_regex && !RE2::PartialMatch(req.path, *r.path_regex)) return {V::PathRegex};
  if (!r.methods.empty() &&
      std::find(r.methods.begin(), r.methods.end(), req.method) == r.methods.end())
    return {V::Method};
  for (size_t i = 0; i < r.headers.size(); ++i) {
    const Compiled::HeaderTest& t = r.headers[i];
    const std::string* value = req.headers ? req.headers->find(t.name) : nullptr;
    bool ok = false;
    switch (t.kind) {
      case config::HeaderMatch::Kind::Exact:
        ok = value && *value == t.value;
        break;
      case config::HeaderMatch::Kind::Regex:
        ok = value && RE2::PartialMatch(*value, *t.regex);
        break;
      case config::HeaderMatch::Kind::Present:
        ok = value != nullptr;
        break;
      case config::HeaderMatch::Kind::Absent:
        ok = value == nullptr;
        break;
    }
    if (!ok) return {V::Header, i};
  }
  for (size_t i = 0; i < r.query.size(); ++i) {
    auto value = queryParam(req.query, r.query[i].name);
    if (!value || *value != r.query[i].value) return {V::Query, i};
  }
  return {};
}

void RouteTable::scan(Span span, const Prepared& req, uint32_t& best) const {
  for (uint32_t k = span.begin; k < span.begin + span.size; ++k) {
    const uint32_t id = ids_[k];
    if (id >= best) return;  // ascending: nothing further in this list can win
    if (!residual_[id] || check(routes_[id], req, /*from_index=*/true).holds()) {
      best = id;
      return;
    }
  }
}

void RouteTable::scanPaths(const PathIndex& index, const Prepared& req, uint32_t& best) const {
  if (index.first >= best) return;
  if (index.exact_first < best)
    if (const Span* s = index.exact.find(req.path)) scan(*s, req, best);
  if (index.prefix_first < best) {
    // Probe each prefix length present, hashing the path once along the way.
    uint64_t hash = StringHash::kSeed;
    size_t hashed = 0;
    for (uint32_t len : index.prefix_lengths) {
      if (len > req.path.size()) break;
      for (; hashed < len; ++hashed) hash = StringHash::extend(hash, req.path[hashed], false);
      if (const Span* s = index.prefix.find(req.path.substr(0, len), hash)) scan(*s, req, best);
    }
  }
  scan(index.any, req, best);
}

std::optional<size_t> RouteTable::match(const RequestView& req) const {
  const Prepared p{req.method, hostOf(req.host), req.path, req.query, req.headers};
  // Every route that can match sits in one of the buckets visited below; each bucket's lists
  // are scanned in config order and stop at the best index found so far.
  uint32_t best = kNone;
  if (const uint32_t* b = exact_hosts_.find(p.host)) scanPaths(paths_[*b], p, best);
  if (!suffix_hosts_.empty()) {
    for (size_t dot = p.host.find('.', 1); dot != std::string_view::npos;
         dot = p.host.find('.', dot + 1)) {
      if (const uint32_t* b = suffix_hosts_.find(p.host.substr(dot)))
        scanPaths(paths_[*b], p, best);
    }
  }
  if (any_host_) scanPaths(paths_[*any_host_], p, best);
  if (best == kNone) return std::nullopt;
  return best;
}

std::optional<size_t> RouteTable::match(std::string_view host_header, std::string_view path) const {
  return match(RequestView{.host = host_header, .path = path});
}

std::string RouteTable::rewritePath(size_t route, std::string_view path) const {
  return routing::rewritePath(config_.at(route), routes_.at(route).rewrite.get(), path);
}

std::string RouteTable::label(size_t route) const {
  std::string out = "route " + std::to_string(route);
  if (!config_path_.empty()) out += " (" + config_path_ + "[" + std::to_string(route) + "])";
  return out;
}

std::string RouteTable::describe(size_t route, const Verdict& v, const Prepared& req) const {
  const config::RouteMatch& m = config_[route].match;
  switch (v.failed) {
    case Verdict::None:
      return "MATCH";
    case Verdict::Host:
      return "host " + *m.host + " does not match " + shown(req.host);
    case Verdict::HostRegex:
      return "host_regex " + *m.host_regex + " does not match " + shown(req.host);
    case Verdict::Path:
      return "path " + *m.path + " does not match " + shown(req.path);
    case Verdict::PathPrefix:
      return "path_prefix " + *m.path_prefix + " does not match " + shown(req.path);
    case Verdict::PathRegex:
      return "path_regex " + *m.path_regex + " does not match " + shown(req.path);
    case Verdict::Method: {
      std::string list;
      for (const std::string& method : m.methods) list += (list.empty() ? "" : ", ") + method;
      return "method " + shown(req.method) + " is not one of " + list;
    }
    case Verdict::Header: {
      const config::HeaderMatch& h = m.headers[v.index];
      const std::string* value = req.headers ? req.headers->find(h.name) : nullptr;
      switch (h.kind) {
        case config::HeaderMatch::Kind::Exact:
          if (!value) return "header " + h.name + " is missing (want " + quoted(h.value) + ")";
          return "header " + h.name + " is " + quoted(*value) + ", not " + quoted(h.value);
        case config::HeaderMatch::Kind::Regex:
          if (!value) return "header " + h.name + " is missing (want ~" + h.value + ")";
          return "header " + h.name + " " + quoted(*value) + " does not match ~" + h.value;
        case config::HeaderMatch::Kind::Present:
          return "header " + h.name + " is missing";
        case config::HeaderMatch::Kind::Absent:
          return "header " + h.name + " is present";
      }
      return "header " + h.name;
    }
    case Verdict::Query: {
      const config::QueryMatch& q = m.query[v.index];
      auto value = queryParam(req.query, q.name);
      if (!value) return "query " + q.name + " is missing (want " + quoted(q.value) + ")";
      return "query " + q.name + " is " + quoted(*value) + ", not " + quoted(q.value);
    }
  }
  return "?";
}

std::string RouteTable::explain(const RequestView& req) const {
  const Prepared p{req.method, hostOf(req.host), req.path, req.query, req.headers};
  std::string out;
  for (size_t i = 0; i < routes_.size(); ++i) {
    Verdict v = check(routes_[i], p, /*from_index=*/false);
    if (v.holds()) return out + label(i) + ": MATCH -> " + actionOf(config_[i]) + "\n";
    out += label(i) + ": no: " + describe(i, v, p) + "\n";
  }
  return out + "no route matches\n";
}

}  // namespace weir::routing
