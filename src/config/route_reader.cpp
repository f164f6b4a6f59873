#include "config/route_reader.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <set>

#include "config/policy_reader.h"
#include "core/ascii.h"

namespace weir::config {
namespace {

bool isAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// RFC 9110 token characters, for header names and methods.
bool isToken(std::string_view s) {
  static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return isAlnum(c) || kExtra.find(c) != std::string_view::npos;
  });
}

bool isMethod(std::string_view s) {
  return isToken(s) &&
         std::none_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

bool isHostChar(char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; }

// A route host: a name, or "*." and a suffix; letters, digits, '-', '_' and '.'.
bool isHostPattern(std::string_view host) {
  if (host.starts_with("*.")) host.remove_prefix(2);
  return !host.empty() && std::all_of(host.begin(), host.end(), isHostChar);
}

// A Host header value to send: "name", "name:port", "[v6]" or "[v6]:port".
bool isAuthority(std::string_view s) {
  std::string_view host = s;
  std::string_view rest;
  if (s.starts_with('[')) {
    size_t close = s.find(']');
    if (close == std::string_view::npos) return false;
    host = s.substr(1, close - 1);
    rest = s.substr(close + 1);
    if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        }))
      return false;
  } else {
    size_t colon = s.find(':');
    host = s.substr(0, colon);
    if (colon != std::string_view::npos) rest = s.substr(colon);
    if (host.empty() || !std::all_of(host.begin(), host.end(), isHostChar)) return false;
  }
  if (rest.empty()) return true;
  if (rest.front() != ':' || rest.size() == 1) return false;
  unsigned port = 0;
  auto [end, ec] = std::from_chars(rest.data() + 1, rest.data() + rest.size(), port);
  return ec == std::errc() && end == rest.data() + rest.size() && port <= 65535;
}

bool hasControlBreak(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// Why a proxied header may not be edited by a route, or empty when it may.
std::string_view refusal(const std::string& lname, bool request) {
  static constexpr std::string_view kManaged[] = {
      "connection", "content-length", "keep-alive",        "proxy-connection",
      "te",         "trailer",        "transfer-encoding", "upgrade",
  };
  if (std::find(std::begin(kManaged), std::end(kManaged), lname) != std::end(kManaged))
    return "hop-by-hop or framing header; weir manages it";
  if (request && lname == "host") return "use host_rewrite to change Host";
  return {};
}

std::string placeholderList() {
  std::string out;
  const size_t n = std::size(kRedirectPlaceholders);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += i + 1 == n ? " or " : ", ";
    out += "{" + std::string(kRedirectPlaceholders[i]) + "}";
  }
  return out;
}

constexpr std::string_view kModifiers[] = {"strip_prefix",    "add_prefix",       "rewrite",
                                           "request_headers", "response_headers", "timeouts",
                                           "host_rewrite",    "retries"};

}  // namespace

bool RouteReader::checkRegex(const Item& at, const std::string& pattern, bool case_sensitive) {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_case_sensitive(case_sensitive);
  RE2 re(pattern, options);
  if (re.ok()) return true;
  r_.fail(at, "invalid regex: " + re.error());
  return false;
}

Route RouteReader::read(const Item& item) {
  Route route;
  route.pos = item.pos;
  if (!r_.mapping(item, {"match", "upstream", "respond", "redirect", "strip_prefix", "add_prefix",
                         "rewrite", "request_headers", "response_headers", "timeouts",
                         "host_rewrite", "retries"}))
    return route;

  if (auto v = r_.optional(item, "match")) readMatch(*v, route.match);
  auto upstream = r_.optional(item, "upstream");
  auto respond = r_.optional(item, "respond");
  auto redirect = r_.optional(item, "redirect");
  if (int(upstream.has_value()) + int(respond.has_value()) + int(redirect.has_value()) != 1)
    r_.fail(item, "exactly one action of: upstream, respond, redirect");
  if (upstream) {
    route.upstream = r_.nonEmptyString(*upstream);
    if (route.upstream && upstreams_complete_ && !upstreams_.count(*route.upstream))
      r_.fail(*upstream, "no upstream named '" + *route.upstream + "'");
  }
  if (respond) route.respond = readRespond(*respond);
  if (redirect) route.redirect = readRedirect(*redirect);

  if (respond || redirect) {
    for (const auto& [key, value] : r_.pairs(item))
      if (key.node.IsScalar() && std::find(std::begin(kModifiers), std::end(kModifiers),
                                           key.node.Scalar()) != std::end(kModifiers))
        r_.fail(key, "only allowed with upstream");
  } else {
    readModifiers(item, route);
  }
  return route;
}

// --- match ---

void RouteReader::readMatch(const Item& item, RouteMatch& m) {
  if (!r_.mapping(item, {"host", "host_regex", "path", "path_prefix", "path_regex", "methods",
                         "headers", "query"}))
    return;
  if (auto v = r_.optional(item, "host")) {
    if (auto s = r_.nonEmptyString(*v)) {
      if (isHostPattern(*s))
        m.host = asciiLowered(*s);
      else
        r_.fail(*v, "must be a host name or *.suffix, got '" + *s + "'");
    }
  }
  auto readRegex = [&](std::string_view key, bool case_sensitive, std::optional<std::string>& out) {
    if (auto v = r_.optional(item, key))
      if (auto s = r_.nonEmptyString(*v))
        if (checkRegex(*v, *s, case_sensitive)) out = *s;
  };
  readRegex("host_regex", /*case_sensitive=*/false, m.host_regex);
  auto readPath = [&](std::string_view key, std::optional<std::string>& out) {
    if (auto v = r_.optional(item, key)) {
      if (auto s = r_.string(*v)) {
        if (s->starts_with('/'))
          out = *s;
        else
          r_.fail(*v, "must start with '/'");
      }
    }
  };
  readPath("path", m.path);
  readPath("path_prefix", m.path_prefix);
  readRegex("path_regex", /*case_sensitive=*/true, m.path_regex);
  if (auto v = r_.optional(item, "methods")) readMethods(*v, m.methods);
  if (auto v = r_.optional(item, "headers")) readHeaderMatches(*v, m.headers);
  if (auto v = r_.optional(item, "query")) readQueryMatches(*v, m.query);
}

void RouteReader::readMethods(const Item& item, std::vector<std::string>& out) {
  auto entries = r_.sequence(item, /*non_empty=*/true);
  if (!entries) return;
  for (const Item& e : *entries) {
    auto s = r_.string(e);
    if (!s) continue;
    if (!isMethod(*s))
      r_.fail(e, "must be an upper-case method name like GET, got '" + *s + "'");
    else if (std::find(out.begin(), out.end(), *s) != out.end())
      r_.fail(e, "duplicate method '" + *s + "'");
    else
      out.push_back(*s);
  }
}

void RouteReader::readHeaderMatches(const Item& item, std::vector<HeaderMatch>& out) {
  if (!r_.mapping(item)) return;
  for (const auto& [key, value] : r_.pairs(item)) {
    if (!key.node.IsScalar()) continue;  // reported by mapping()
    HeaderMatch h;
    h.name = key.node.Scalar();
    if (!isToken(h.name)) {
      r_.fail(key, "not a valid header name");
      continue;
    }
    if (value.node.IsMap()) {
      if (!r_.mapping(value, {"present"})) continue;
      auto present = r_.required(value, "present");
      auto flag = present ? r_.boolean(*present) : std::nullopt;
      if (!flag) continue;
      h.kind = *flag ? HeaderMatch::Kind::Present : HeaderMatch::Kind::Absent;
    } else if (value.node.IsScalar()) {
      const std::string& s = value.node.Scalar();
      if (s.starts_with('~')) {
        h.kind = HeaderMatch::Kind::Regex;
        h.value = s.substr(1);
        if (h.value.empty()) {
          r_.fail(value, "needs a regex after '~'");
          continue;
        }
        if (!checkRegex(value, h.value)) continue;
      } else {
        h.kind = HeaderMatch::Kind::Exact;
        h.value = s;
      }
    } else {
      r_.fail(value, "must be a value, a ~regex or {present: true|false}");
      continue;
    }
    out.push_back(std::move(h));
  }
}

void RouteReader::readQueryMatches(const Item& item, std::vector<QueryMatch>& out) {
  if (!r_.mapping(item)) return;
  for (const auto& [key, value] : r_.pairs(item)) {
    if (!key.node.IsScalar()) continue;  // reported by mapping()
    if (key.node.Scalar().empty()) {
      r_.fail(key, "parameter name must not be empty");
      continue;
    }
    if (auto s = r_.string(value)) out.push_back(QueryMatch{key.node.Scalar(), *s});
  }
}

// --- actions ---

Respond RouteReader::readRespond(const Item& item) {
  Respond out;
  if (!r_.mapping(item, {"status", "body", "headers"})) return out;
  r_.readInteger(item, "status", 200, 599, out.status);  // a 1xx is never a final answer
  if (auto v = r_.optional(item, "body"))
    if (auto s = r_.string(*v)) out.body = *s;
  if (auto v = r_.optional(item, "headers"))
    if (r_.mapping(*v))
      for (const auto& [key, value] : r_.pairs(*v)) readRespondHeader(key, value, out.headers);
  return out;
}

void RouteReader::readRespondHeader(const Item& key, const Item& value, std::vector<Header>& out) {
  const std::string name = key.node.Scalar();
  const std::string lname = asciiLowered(name);
  if (!isToken(name)) {
    r_.fail(key, "not a valid header name");
    return;
  }
  if (lname == "content-length" || lname == "transfer-encoding") {
    r_.fail(key, "set by weir from body; remove it");
    return;
  }
  auto s = r_.string(value);
  if (!s) return;
  if (hasControlBreak(*s)) {
    r_.fail(value, "must not contain CR, LF or NUL");
    return;
  }
  out.push_back(Header{name, *s});
}

Redirect RouteReader::readRedirect(const Item& item) {
  Redirect out;
  if (!r_.mapping(item, {"status", "location"})) return out;
  if (auto v = r_.optional(item, "status")) {
    auto n =
        r_.integer(*v, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
    if (n && (*n == 301 || *n == 302 || *n == 307 || *n == 308))
      out.status = static_cast<int>(*n);
    else if (n)
      r_.fail(*v, "must be 301, 302, 307 or 308, got " + std::to_string(*n));
  }
  auto v = r_.required(item, "location");
  auto s = v ? r_.nonEmptyString(*v) : std::nullopt;
  if (!s) return out;
  if (hasControlBreak(*s)) {
    r_.fail(*v, "must not contain CR, LF or NUL");
    return out;
  }
  for (size_t open = s->find('{'); open != std::string::npos; open = s->find('{', open + 1)) {
    size_t close = s->find('}', open);
    if (close == std::string::npos) {
      r_.fail(*v, "'{' without '}'; placeholders are " + placeholderList());
      return out;
    }
    std::string_view name = std::string_view(*s).substr(open + 1, close - open - 1);
    if (std::find(std::begin(kRedirectPlaceholders), std::end(kRedirectPlaceholders), name) ==
        std::end(kRedirectPlaceholders)) {
      r_.fail(*v, "unknown placeholder {" + std::string(name) + "}; use " + placeholderList());
      return out;
    }
    open = close;
  }
  out.location = *s;
  return out;
}

// --- modifiers ---

void RouteReader::readModifiers(const Item& item, Route& route) {
  auto readPrefix = [&](std::string_view key, std::optional<std::string>& out) {
    if (auto v = r_.optional(item, key)) {
      if (auto s = r_.nonEmptyString(*v)) {
        if (s->starts_with('/'))
          out = *s;
        else
          r_.fail(*v, "must start with '/'");
      }
    }
  };
  readPrefix("strip_prefix", route.strip_prefix);
  readPrefix("add_prefix", route.add_prefix);
  if (auto v = r_.optional(item, "rewrite")) route.rewrite = readRewrite(*v);
  if (auto v = r_.optional(item, "request_headers"))
    route.request_headers = readHeaderOps(*v, /*request=*/true);
  if (auto v = r_.optional(item, "response_headers"))
    route.response_headers = readHeaderOps(*v, /*request=*/false);
  if (auto v = r_.optional(item, "timeouts")) {
    if (r_.mapping(*v, {"connect", "response"})) {
      UpstreamTimeouts t;
      if (route.upstream)
        if (auto it = upstreams_.find(*route.upstream); it != upstreams_.end()) t = it->second;
      r_.readDuration(*v, "connect", t.connect);
      r_.readDuration(*v, "response", t.response);
      route.timeouts = t;
    }
  }
  if (auto v = r_.optional(item, "retries")) route.retries = readRetries(r_, *v);
  if (auto v = r_.optional(item, "host_rewrite")) {
    if (auto s = r_.nonEmptyString(*v)) {
      if (isAuthority(*s))
        route.host_rewrite = *s;
      else
        r_.fail(*v, "must be a host name or address, optionally with :port, got '" + *s + "'");
    }
  }
}

std::optional<Rewrite> RouteReader::readRewrite(const Item& item) {
  if (!r_.mapping(item, {"regex", "replace"})) return std::nullopt;
  auto regex = r_.required(item, "regex");
  auto replace = r_.required(item, "replace");
  auto pattern = regex ? r_.nonEmptyString(*regex) : std::nullopt;
  auto with = replace ? r_.string(*replace) : std::nullopt;
  if (!pattern || !checkRegex(*regex, *pattern)) return std::nullopt;
  if (!with) return std::nullopt;
  RE2::Options options;
  options.set_log_errors(false);
  RE2 re(*pattern, options);
  std::string why;
  if (!re.CheckRewriteString(*with, &why)) {
    r_.fail(*replace, "invalid replace: " + why);
    return std::nullopt;
  }
  return Rewrite{*pattern, *with};
}

HeaderOps RouteReader::readHeaderOps(const Item& item, bool request) {
  HeaderOps ops;
  if (!r_.mapping(item, {"set", "add", "remove"})) return ops;
  auto nameOk = [&](const Item& at, const std::string& name) {
    if (!isToken(name)) {
      r_.fail(at, "not a valid header name");
      return false;
    }
    if (std::string_view why = refusal(asciiLowered(name), request); !why.empty()) {
      r_.fail(at, std::string(why));
      return false;
    }
    return true;
  };
  auto readFields = [&](std::string_view key, std::vector<Header>& out, bool unique) {
    auto v = r_.optional(item, key);
    if (!v || !r_.mapping(*v)) return;
    std::set<std::string> seen;
    for (const auto& [k, value] : r_.pairs(*v)) {
      if (!k.node.IsScalar()) continue;  // reported by mapping()
      const std::string name = k.node.Scalar();
      if (!nameOk(k, name)) continue;
      if (unique && !seen.insert(asciiLowered(name)).second) {
        r_.fail(k, "duplicate header (names ignore case)");
        continue;
      }
      auto s = r_.string(value);
      if (!s) continue;
      if (hasControlBreak(*s)) {
        r_.fail(value, "must not contain CR, LF or NUL");
        continue;
      }
      out.push_back(Header{name, *s});
    }
  };
  readFields("set", ops.set, /*unique=*/true);
  readFields("add", ops.add, /*unique=*/false);
  if (auto v = r_.optional(item, "remove")) {
    if (auto entries = r_.sequence(*v, /*non_empty=*/false)) {
      for (const Item& e : *entries)
        if (auto s = r_.string(e))
          if (nameOk(e, *s)) ops.remove.push_back(*s);
    }
  }
  return ops;
}

}  // namespace weir::config
