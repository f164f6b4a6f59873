// The route keys of the schema: conditions, actions and modifiers, as loaded.
#include <gtest/gtest.h>

#include "config/config.h"
#include "load_test_support.h"

namespace weir::config {
namespace {

using std::chrono::milliseconds;
using Kind = HeaderMatch::Kind;

TEST(ConfigRoutes, EveryMatchConditionIsRead) {
  Config c = load(withRoutes(R"(
      - match:
          host: API.example.com
          host_regex: '^api[0-9]+\.example\.com$'
          path: /x
          path_prefix: /v1/
          path_regex: '^/users/[0-9]+$'
          methods: [GET, POST]
          headers: {X-Env: prod, X-Debug: {present: true}, X-Trace: {present: false}, User-Agent: "~(?i)curl"}
          query: {version: "2", beta: ""}
        upstream: web
)"));
  ASSERT_EQ(c.listeners.size(), 1u);
  const RouteMatch& m = c.listeners[0].routes[0].match;
  EXPECT_EQ(m.host, "api.example.com");
  EXPECT_EQ(m.host_regex, R"(^api[0-9]+\.example\.com$)");
  EXPECT_EQ(m.path, "/x");
  EXPECT_EQ(m.path_prefix, "/v1/");
  EXPECT_EQ(m.path_regex, "^/users/[0-9]+$");
  EXPECT_EQ(m.methods, (std::vector<std::string>{"GET", "POST"}));
  ASSERT_EQ(m.headers.size(), 4u);
  EXPECT_EQ(m.headers[0].name, "X-Env");
  EXPECT_EQ(m.headers[0].kind, Kind::Exact);
  EXPECT_EQ(m.headers[0].value, "prod");
  EXPECT_EQ(m.headers[1].name, "X-Debug");
  EXPECT_EQ(m.headers[1].kind, Kind::Present);
  EXPECT_EQ(m.headers[2].name, "X-Trace");
  EXPECT_EQ(m.headers[2].kind, Kind::Absent);
  EXPECT_EQ(m.headers[3].name, "User-Agent");
  EXPECT_EQ(m.headers[3].kind, Kind::Regex);
  EXPECT_EQ(m.headers[3].value, "(?i)curl");
  ASSERT_EQ(m.query.size(), 2u);
  EXPECT_EQ(m.query[0].name, "version");
  EXPECT_EQ(m.query[0].value, "2");
  EXPECT_EQ(m.query[1].name, "beta");
  EXPECT_EQ(m.query[1].value, "");
}

TEST(ConfigRoutes, MatchWithoutNewKeysLeavesThemEmpty) {
  Config c = load(withRoutes("      - {match: {path: /}, upstream: web}\n"));
  const Route& r = c.listeners[0].routes[0];
  EXPECT_FALSE(r.match.host_regex || r.match.path_regex);
  EXPECT_TRUE(r.match.methods.empty());
  EXPECT_TRUE(r.match.headers.empty());
  EXPECT_TRUE(r.match.query.empty());
  EXPECT_FALSE(r.redirect || r.strip_prefix || r.add_prefix || r.rewrite || r.timeouts ||
               r.host_rewrite);
  EXPECT_TRUE(r.request_headers.empty());
  EXPECT_TRUE(r.response_headers.empty());
}

TEST(ConfigRoutes, RedirectIsRead) {
  Config c = load(withRoutes(R"(
      - redirect: {status: 301, location: "https://{host}{uri}"}
      - redirect: {location: "{scheme}://example.com{path}?{query}"}
)"));
  const auto& routes = c.listeners[0].routes;
  ASSERT_EQ(routes.size(), 2u);
  ASSERT_TRUE(routes[0].redirect);
  EXPECT_EQ(routes[0].redirect->status, 301);
  EXPECT_EQ(routes[0].redirect->location, "https://{host}{uri}");
  EXPECT_FALSE(routes[0].upstream || routes[0].respond);
  ASSERT_TRUE(routes[1].redirect);
  EXPECT_EQ(routes[1].redirect->status, 302);
  EXPECT_EQ(routes[1].redirect->location, "{scheme}://example.com{path}?{query}");
}

TEST(ConfigRoutes, RedirectAcceptsEachPermanentAndTemporaryStatus) {
  for (int status : {301, 302, 307, 308}) {
    Config c = load(
        withRoutes("      - redirect: {status: " + std::to_string(status) + ", location: /}\n"));
    ASSERT_EQ(c.listeners.size(), 1u);
    EXPECT_EQ(c.listeners[0].routes[0].redirect->status, status);
  }
}

TEST(ConfigRoutes, EveryModifierIsRead) {
  Config c = load(withRoutes(R"(
      - match: {path_prefix: /v1/}
        upstream: web
        strip_prefix: /v1
        add_prefix: /api
        rewrite: {regex: '^/old/(.*)$', replace: '/new/\1'}
        request_headers: {set: {X-A: "1"}, add: {X-B: "2", X-C: "3"}, remove: [X-D, Cookie]}
        response_headers: {set: {Cache-Control: no-store}, remove: [Server]}
        timeouts: {connect: 1s, response: 5s}
        host_rewrite: internal.example
)"));
  const Route& r = c.listeners[0].routes[0];
  EXPECT_EQ(r.upstream, "web");
  EXPECT_EQ(r.strip_prefix, "/v1");
  EXPECT_EQ(r.add_prefix, "/api");
  ASSERT_TRUE(r.rewrite);
  EXPECT_EQ(r.rewrite->regex, "^/old/(.*)$");
  EXPECT_EQ(r.rewrite->replace, R"(/new/\1)");
  ASSERT_EQ(r.request_headers.set.size(), 1u);
  EXPECT_EQ(r.request_headers.set[0].name, "X-A");
  EXPECT_EQ(r.request_headers.set[0].value, "1");
  ASSERT_EQ(r.request_headers.add.size(), 2u);
  EXPECT_EQ(r.request_headers.add[1].name, "X-C");
  EXPECT_EQ(r.request_headers.add[1].value, "3");
  EXPECT_EQ(r.request_headers.remove, (std::vector<std::string>{"X-D", "Cookie"}));
  ASSERT_EQ(r.response_headers.set.size(), 1u);
  EXPECT_EQ(r.response_headers.set[0].value, "no-store");
  EXPECT_TRUE(r.response_headers.add.empty());
  EXPECT_EQ(r.response_headers.remove, std::vector<std::string>{"Server"});
  ASSERT_TRUE(r.timeouts);
  EXPECT_EQ(r.timeouts->connect, milliseconds(1'000));
  EXPECT_EQ(r.timeouts->response, milliseconds(5'000));
  EXPECT_EQ(r.host_rewrite, "internal.example");
}

TEST(ConfigRoutes, RouteTimeoutsNotGivenAreTheUpstreams) {
  Config c = load(withRoutes(R"(
      - {match: {path: /a}, upstream: web, timeouts: {connect: 1s}}
      - {match: {path: /b}, upstream: web, timeouts: {response: 90s}}
      - {match: {path: /c}, upstream: web, timeouts: {}}
)"));
  const auto& routes = c.listeners[0].routes;
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_EQ(routes[0].timeouts->connect, milliseconds(1'000));
  EXPECT_EQ(routes[0].timeouts->response, milliseconds(7'000));
  EXPECT_EQ(routes[1].timeouts->connect, milliseconds(500));
  EXPECT_EQ(routes[1].timeouts->response, milliseconds(90'000));
  EXPECT_EQ(routes[2].timeouts->connect, milliseconds(500));
  EXPECT_EQ(routes[2].timeouts->response, milliseconds(7'000));
}

TEST(ConfigRoutes, HostRewriteAcceptsNamesAddressesAndPorts) {
  for (const char* host : {"internal.example", "internal.example:8080", "10.0.0.1:80",
                           "\"[::1]:8443\"", "\"[fe80::1]\"", "backend"}) {
    Config c =
        load(withRoutes(std::string("      - {upstream: web, host_rewrite: ") + host + "}\n"));
    ASSERT_EQ(c.listeners.size(), 1u) << host;
    EXPECT_TRUE(c.listeners[0].routes[0].host_rewrite) << host;
  }
}

TEST(ConfigRoutes, HeaderValueStartingWithTildeIsARegexOtherwiseExact) {
  Config c = load(withRoutes(R"(
      - match: {headers: {A: "~^x$", B: "x~", C: "", D: 2}}
        upstream: web
)"));
  const auto& h = c.listeners[0].routes[0].match.headers;
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0].kind, Kind::Regex);
  EXPECT_EQ(h[0].value, "^x$");
  EXPECT_EQ(h[1].kind, Kind::Exact);
  EXPECT_EQ(h[1].value, "x~");
  EXPECT_EQ(h[2].kind, Kind::Exact);
  EXPECT_EQ(h[2].value, "");
  EXPECT_EQ(h[3].kind, Kind::Exact);
  EXPECT_EQ(h[3].value, "2");
}

TEST(ConfigRoutes, RedirectPlaceholdersAreTheDocumentedOnes) {
  std::string location;
  for (std::string_view p : kRedirectPlaceholders) location += "{" + std::string(p) + "}";
  EXPECT_EQ(location, "{scheme}{host}{uri}{path}{query}");
  Config c = load(withRoutes("      - redirect: {location: \"" + location + "\"}\n"));
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].routes[0].redirect->location, location);
}

}  // namespace
}  // namespace weir::config
