// RouteTable: a listener's routes compiled for matching a request's Host and path.
// Pure (no <uv.h>); immutable once built, so it can be shared read-only across workers.
// Built from a config snapshot's listener; the caller maps the returned index back to its Route.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace weir::routing {

class RouteTable {
 public:
  /// Compiles `routes` (first match wins). Config hosts are lower-cased again; the brackets of
  /// an IPv6 literal ("[::1]") and one trailing dot are dropped.
  explicit RouteTable(const std::vector<config::Route>& routes);

  /// Index into the compiled routes of the first one whose every condition holds; nullopt if none.
  /// `host_header` is the Host header as received: compared case-insensitively, with any port
  /// (and the brackets of an IPv6 literal, and one trailing dot) ignored. `path` is the request
  /// target's path without the query string, compared byte for byte. Allocates nothing.
  ///   host "example.com"   : that host only
  ///   host "*.example.com" : any subdomain at any depth, not "example.com" itself
  ///   path "/x"            : exactly "/x"
  ///   path_prefix "/x"     : any path starting with "/x" (plain string prefix)
  std::optional<size_t> match(std::string_view host_header, std::string_view path) const;

  size_t size() const { return routes_.size(); }

 private:
  enum class HostRule : unsigned char { Any, Exact, Suffix };
  struct Compiled {
    HostRule host_rule = HostRule::Any;
    std::string host;  // lower-case; for Suffix the part after '*', e.g. ".example.com"
    std::optional<std::string> path;
    std::optional<std::string> path_prefix;
  };

  std::vector<Compiled> routes_;
};

}  // namespace weir::routing
