#include "routing/route_actions.h"

#include <re2/re2.h>

namespace weir::routing {

std::string expandRedirect(std::string_view location, const RedirectParts& parts) {
  std::string out;
  out.reserve(location.size() + parts.host.size() + parts.uri.size());
  size_t at = 0;
  while (at < location.size()) {
    size_t open = location.find('{', at);
    size_t close = open == std::string_view::npos ? open : location.find('}', open);
    if (close == std::string_view::npos) break;
    out.append(location.substr(at, open - at));
    std::string_view name = location.substr(open + 1, close - open - 1);
    if (name == "scheme")
      out.append(parts.scheme);
    else if (name == "host")
      out.append(parts.host);
    else if (name == "uri")
      out.append(parts.uri);
    else if (name == "path")
      out.append(parts.path);
    else if (name == "query")
      out.append(parts.query);
    else
      out.append(location.substr(open, close - open + 1));
    at = close + 1;
  }
  out.append(location.substr(std::min(at, location.size())));
  return out;
}

std::string rewritePath(const config::Route& route, const re2::RE2* rewrite,
                        std::string_view path) {
  std::string out;
  if (route.strip_prefix && path.starts_with(*route.strip_prefix)) {
    path.remove_prefix(route.strip_prefix->size());
    if (!path.starts_with('/')) out = "/";
  }
  if (route.add_prefix) {
    std::string_view add = *route.add_prefix;
    if (add.ends_with('/') && (path.starts_with('/') || out == "/")) add.remove_suffix(1);
    out.insert(0, add);
  }
  out.append(path);
  if (rewrite) {
    RE2::Replace(&out, *rewrite, route.rewrite ? route.rewrite->replace : std::string());
    if (!out.starts_with('/')) out.insert(0, "/");
  }
  return out;
}

}  // namespace weir::routing
