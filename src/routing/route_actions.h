// What a matched route does to a request, as pure functions the proxy calls: redirect
// locations, the path sent upstream, header edits. Any thread; nothing here allocates beyond
// its result.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "routing/request_view.h"

namespace re2 {
class RE2;
}

namespace weir::routing {

/// The values a redirect location's placeholders stand for (config::kRedirectPlaceholders).
struct RedirectParts {
  std::string_view scheme;  // "http" or "https"
  std::string_view host;    // the request's host without port (see hostOf)
  std::string_view uri;     // request target as received: path and "?query"
  std::string_view path;    // without the query
  std::string_view query;   // without '?'; empty when none
};

/// `location` with each {placeholder} replaced by its value; values are inserted as they are
/// (no escaping). An unknown placeholder (the loader rejects them) is kept as written.
std::string expandRedirect(std::string_view location, const RedirectParts& parts);

/// The path to send upstream for `route`: strip_prefix removed when the path starts with it
/// (a '/' is put back in front when the rest does not start with one), then add_prefix put in
/// front (without doubling a '/' between them), then the rewrite substitution applied with
/// `rewrite`, the compiled route.rewrite->regex (nullptr: none). `path` starts with '/' and
/// so does the result. RouteTable::rewritePath supplies `rewrite` for a table's routes.
std::string rewritePath(const config::Route& route, const re2::RE2* rewrite, std::string_view path);

/// Applies `ops` to a list of header fields of any struct with `name` and `value` strings
/// (http::HeaderField, config::Header): removes, then sets (one field replacing all of that
/// name, appended), then adds. Names compare ASCII case-insensitively.
template <typename Field>
void applyHeaderOps(const config::HeaderOps& ops, std::vector<Field>& fields) {
  auto named = [](const std::string& name) {
    return [&name](const Field& f) { return iequals(f.name, name); };
  };
  for (const std::string& name : ops.remove) std::erase_if(fields, named(name));
  for (const config::Header& h : ops.set) {
    std::erase_if(fields, named(h.name));
    fields.push_back(Field{h.name, h.value});
  }
  for (const config::Header& h : ops.add) fields.push_back(Field{h.name, h.value});
}

}  // namespace weir::routing
