// RouteReader: reads the entries of a listener's `routes:` for the config loader (match,
// action, modifiers), checking every regex with RE2 and every reference to an upstream.
// One per load, on the loading thread; errors go to the load's Reader.
#pragma once

#include <map>
#include <string>

#include "config/config.h"
#include "config/reader.h"

namespace weir::config {

class RouteReader {
 public:
  /// `upstreams` maps each readable upstream name to its timeouts; `upstreams_complete` is
  /// false when some upstream's name was unreadable (then unknown names are not reported, as
  /// they may be that one).
  RouteReader(Reader& r, const std::map<std::string, UpstreamTimeouts>& upstreams,
              bool upstreams_complete)
      : r_(r), upstreams_(upstreams), upstreams_complete_(upstreams_complete) {}

  Route read(const Item& item);

 private:
  void readMatch(const Item& item, RouteMatch& m);
  void readMethods(const Item& item, std::vector<std::string>& out);
  void readHeaderMatches(const Item& item, std::vector<HeaderMatch>& out);
  void readQueryMatches(const Item& item, std::vector<QueryMatch>& out);
  Respond readRespond(const Item& item);
  void readRespondHeader(const Item& key, const Item& value, std::vector<Header>& out);
  Redirect readRedirect(const Item& item);
  void readModifiers(const Item& item, Route& route);
  std::optional<Rewrite> readRewrite(const Item& item);
  HeaderOps readHeaderOps(const Item& item, bool request);
  /// Reports RE2's complaint about `pattern` at `at`; true when it compiles.
  bool checkRegex(const Item& at, const std::string& pattern, bool case_sensitive = true);

  Reader& r_;
  const std::map<std::string, UpstreamTimeouts>& upstreams_;
  bool upstreams_complete_;
};

}  // namespace weir::config
