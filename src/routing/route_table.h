// RouteTable: a listener's routes compiled for matching requests: regexes compiled once (RE2)
// and an index by host and path so that a match looks at few routes however many there are.
// Pure (no <uv.h>); immutable once built, so it is shared read-only across workers (RE2
// matching is thread-safe). Built from a config snapshot's listener; the caller maps the
// returned index back to its config::Route.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "routing/request_view.h"
#include "routing/string_index.h"

namespace re2 {
class RE2;
}

namespace weir::routing {

class RouteTable {
 public:
  /// Compiles `routes` (first match wins). `config_path` names the list in explain() output,
  /// e.g. "listeners[0].routes". Config hosts are lower-cased again; the brackets of an IPv6
  /// literal ("[::1]") and one trailing dot are dropped. Regexes are checked by the loader; one
  /// that does not compile here never matches.
  explicit RouteTable(const std::vector<config::Route>& routes, std::string config_path = {});
  RouteTable(RouteTable&&) noexcept;
  RouteTable& operator=(RouteTable&&) noexcept;
  ~RouteTable();

  /// Index of the first route in config order whose every condition holds; nullopt if none.
  /// Allocates nothing itself (RE2 keeps its own per-regex cache). Conditions:
  ///   host "example.com"   : that host only (case-insensitive; port, IPv6 brackets and one
  ///                          trailing dot of req.host ignored)
  ///   host "*.example.com" : any subdomain at any depth, not "example.com" itself
  ///   host_regex           : RE2 full match of that host, case-insensitive
  ///   path "/x"            : exactly "/x"
  ///   path_prefix "/x"     : any path starting with "/x" (plain string prefix)
  ///   path_regex           : RE2 partial match of the path (anchor with ^ and $ for a full one)
  ///   methods              : req.method is one of them, exactly (GET does not imply HEAD)
  ///   headers              : each holds for the first field of that name (see HeaderMatch)
  ///   query                : the first parameter of each name has exactly that value
  std::optional<size_t> match(const RequestView& req) const;

  /// Same, for a request known only by Host header and path (no method, headers or query: a
  /// route with methods, a header other than {present: false}, or query never matches).
  std::optional<size_t> match(std::string_view host_header, std::string_view path) const;

  /// The path to send upstream for route `route` (strip_prefix, add_prefix, rewrite; see
  /// routing::rewritePath). `path` is the request's path without the query.
  std::string rewritePath(size_t route, std::string_view path) const;

  /// Why `req` gets the route it gets: one line per route up to the match, e.g.
  ///   route 1 (listeners[0].routes[1]): no: path_prefix /v1/ does not match /users
  ///   route 2 (listeners[0].routes[2]): MATCH -> upstream web
  /// ending "no route matches" when none does. For people, not for parsing; slow.
  std::string explain(const RequestView& req) const;

  size_t size() const;

 private:
  struct Compiled;
  struct Prepared;
  struct Verdict;
  struct PathIndex;
  struct Span {
    uint32_t begin = 0;
    uint32_t size = 0;
  };

  /// The first condition of `r` that `req` fails. With `from_index`, the conditions the index
  /// already guarantees for a candidate (host, and its path or path_prefix key) are skipped.
  Verdict check(const Compiled& r, const Prepared& req, bool from_index) const;
  void scan(Span span, const Prepared& req, uint32_t& best) const;
  void scanPaths(const PathIndex& index, const Prepared& req, uint32_t& best) const;
  std::string describe(size_t route, const Verdict& v, const Prepared& req) const;
  std::string label(size_t route) const;

  std::vector<Compiled> routes_;       // in config order
  std::vector<uint8_t> residual_;      // per route: 1 if it has conditions the index leaves open
  std::vector<config::Route> config_;  // as given; for explain() and rewritePath()
  std::string config_path_;

  // Index. A route sits in exactly one host bucket (its exact host, its wildcard suffix, or
  // "any" when it has no host condition) and, inside it, under its exact path, else its path
  // prefix, else "any". Candidate lists hold route indices in ascending (config) order. A match
  // visits the request host's exact bucket, one wildcard bucket per dot of the host, and the
  // "any" bucket; in each, one exact-path lookup and one lookup per distinct prefix length, and
  // scans each candidate list only up to the best index found so far. Candidates with no
  // condition beyond their index keys (residual_ 0) match without looking at the route. So the
  // cost follows the number of distinct prefix lengths and of routes sharing a key, not the
  // number of routes.
  std::vector<uint32_t> ids_;  // every Span points into this
  std::vector<PathIndex> paths_;
  StringIndex<uint32_t> exact_hosts_;   // "api.example.com" -> paths_ index
  StringIndex<uint32_t> suffix_hosts_;  // ".example.com" (from "*.example.com") -> paths_ index
  std::optional<uint32_t> any_host_;
};

}  // namespace weir::routing
