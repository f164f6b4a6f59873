#include "routing/route_table.h"

namespace weir::routing {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowerCopy(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

// `a` as received (any case) equals `lower_b` (already lower-case).
bool equalsLower(std::string_view a, std::string_view lower_b) {
  if (a.size() != lower_b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower_b[i]) return false;
  return true;
}

std::string_view stripBrackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    return host.substr(1, host.size() - 2);
  return host;
}

// The host part of a Host header: "[::1]:8080" -> "::1", "Example.com:80" -> "Example.com",
// "example.com." -> "example.com". An unbracketed value with several colons is kept whole.
std::string_view hostOf(std::string_view header) {
  std::string_view host = header;
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close != std::string_view::npos) return host.substr(1, close - 1);
    return host;  // malformed; matches nothing sensible
  }
  size_t colon = host.find(':');
  if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos)
    host = host.substr(0, colon);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return host;
}

}  // namespace

RouteTable::RouteTable(const std::vector<config::Route>& routes) {
  routes_.reserve(routes.size());
  for (const auto& route : routes) {
    Compiled c;
    if (route.match.host) {
      std::string host = lowerCopy(stripBrackets(*route.match.host));
      if (!host.empty() && host.back() == '.') host.pop_back();
      if (host.size() >= 2 && host[0] == '*' && host[1] == '.') {
        c.host_rule = HostRule::Suffix;
        c.host = host.substr(1);  // keep the dot: ".example.com"
      } else {
        c.host_rule = HostRule::Exact;
        c.host = std::move(host);
      }
    }
    c.path = route.match.path;
    c.path_prefix = route.match.path_prefix;
    routes_.push_back(std::move(c));
  }
}

std::optional<size_t> RouteTable::match(std::string_view host_header, std::string_view path) const {
  const std::string_view host = hostOf(host_header);
  for (size_t i = 0; i < routes_.size(); ++i) {
    const Compiled& r = routes_[i];
    switch (r.host_rule) {
      case HostRule::Any:
        break;
      case HostRule::Exact:
        if (!equalsLower(host, r.host)) continue;
        break;
      case HostRule::Suffix:
        // At least one character before the dot: "*.example.com" never matches "example.com".
        if (host.size() <= r.host.size() ||
            !equalsLower(host.substr(host.size() - r.host.size()), r.host))
          continue;
        break;
    }
    if (r.path && path != *r.path) continue;
    if (r.path_prefix && !path.starts_with(*r.path_prefix)) continue;
    return i;
  }
  return std::nullopt;
}

}  // namespace weir::routing
