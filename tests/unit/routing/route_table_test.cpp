#include "routing/route_table.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace weir::routing {
namespace {

struct RouteSpec {
  std::optional<std::string> host;
  std::optional<std::string> path;
  std::optional<std::string> path_prefix;
};

RouteTable tableOf(const std::vector<RouteSpec>& specs) {
  std::vector<config::Route> routes;
  for (const auto& s : specs) {
    config::Route r;
    r.match.host = s.host;
    r.match.path = s.path;
    r.match.path_prefix = s.path_prefix;
    r.upstream = "backend";
    routes.push_back(std::move(r));
  }
  return RouteTable(routes);
}

TEST(RouteTable, RouteWithoutConditionsMatchesEverything) {
  RouteTable table = tableOf({{}});
  EXPECT_EQ(table.match("example.com", "/"), 0u);
  EXPECT_EQ(table.match("", ""), 0u);
}

TEST(RouteTable, ExactHostMatchesOnlyThatHost) {
  RouteTable table = tableOf({{.host = "example.com"}});
  EXPECT_EQ(table.match("example.com", "/"), 0u);
  EXPECT_EQ(table.match("www.example.com", "/"), std::nullopt);
  EXPECT_EQ(table.match("example.org", "/"), std::nullopt);
  EXPECT_EQ(table.match("example.co", "/"), std::nullopt);
  EXPECT_EQ(table.match("xexample.com", "/"), std::nullopt);
  EXPECT_EQ(table.match("", "/"), std::nullopt);
}

TEST(RouteTable, WildcardHostMatchesSubdomainsAtAnyDepth) {
  RouteTable table = tableOf({{.host = "*.example.com"}});
  EXPECT_EQ(table.match("a.example.com", "/"), 0u);
  EXPECT_EQ(table.match("a.b.example.com", "/"), 0u);
}

TEST(RouteTable, WildcardHostDoesNotMatchTheBareDomain) {
  RouteTable table = tableOf({{.host = "*.example.com"}});
  EXPECT_EQ(table.match("example.com", "/"), std::nullopt);
  EXPECT_EQ(table.match(".example.com", "/"), std::nullopt);
  EXPECT_EQ(table.match("badexample.com", "/"), std::nullopt);
  EXPECT_EQ(table.match("a.example.com.evil.net", "/"), std::nullopt);
}

TEST(RouteTable, HostMatchingIgnoresCase) {
  RouteTable table = tableOf({{.host = "Example.COM"}, {.host = "*.Wild.Example.org"}});
  EXPECT_EQ(table.match("EXAMPLE.com", "/"), 0u);
  EXPECT_EQ(table.match("example.com", "/"), 0u);
  EXPECT_EQ(table.match("API.wild.EXAMPLE.org", "/"), 1u);
}

TEST(RouteTable, HostMatchingIgnoresThePort) {
  RouteTable table = tableOf({{.host = "example.com"}, {.host = "*.example.org"}});
  EXPECT_EQ(table.match("example.com:8080", "/"), 0u);
  EXPECT_EQ(table.match("Example.com:80", "/"), 0u);
  EXPECT_EQ(table.match("a.example.org:443", "/"), 1u);
  EXPECT_EQ(table.match("example.com:", "/"), 0u);
}

TEST(RouteTable, HostMatchingIgnoresATrailingDot) {
  RouteTable table = tableOf({{.host = "example.com"}});
  EXPECT_EQ(table.match("example.com.", "/"), 0u);
  EXPECT_EQ(table.match("example.com.:8080", "/"), 0u);
}

TEST(RouteTable, Ipv6HostHeaderMatchesWithOrWithoutPort) {
  RouteTable table = tableOf({{.host = "::1"}, {.host = "[fe80::1]"}});
  EXPECT_EQ(table.match("[::1]:8080", "/"), 0u);
  EXPECT_EQ(table.match("[::1]", "/"), 0u);
  EXPECT_EQ(table.match("[FE80::1]:443", "/"), 1u);
  EXPECT_EQ(table.match("[::2]:8080", "/"), std::nullopt);
  EXPECT_EQ(table.match("[::1", "/"), std::nullopt);
}

TEST(RouteTable, ExactPathMatchesOnlyThatPath) {
  RouteTable table = tableOf({{.path = "/health"}});
  EXPECT_EQ(table.match("example.com", "/health"), 0u);
  EXPECT_EQ(table.match("example.com", "/health/"), std::nullopt);
  EXPECT_EQ(table.match("example.com", "/healthz"), std::nullopt);
  EXPECT_EQ(table.match("example.com", "/Health"), std::nullopt);
  EXPECT_EQ(table.match("example.com", "/"), std::nullopt);
}

TEST(RouteTable, PathPrefixIsAPlainStringPrefix) {
  RouteTable table = tableOf({{.path_prefix = "/api"}});
  EXPECT_EQ(table.match("example.com", "/api"), 0u);
  EXPECT_EQ(table.match("example.com", "/api/v1/users"), 0u);
  EXPECT_EQ(table.match("example.com", "/apiary"), 0u);
  EXPECT_EQ(table.match("example.com", "/ap"), std::nullopt);
  EXPECT_EQ(table.match("example.com", "/API"), std::nullopt);
  EXPECT_EQ(table.match("example.com", "/v1/api"), std::nullopt);
}

TEST(RouteTable, EveryConditionOfARouteMustHold) {
  RouteTable table = tableOf({{.host = "example.com", .path = "/exact", .path_prefix = "/ex"}});
  EXPECT_EQ(table.match("example.com", "/exact"), 0u);
  EXPECT_EQ(table.match("other.com", "/exact"), std::nullopt);
  EXPECT_EQ(table.match("example.com", "/exactly"), std::nullopt);

  RouteTable host_and_prefix = tableOf({{.host = "*.example.com", .path_prefix = "/api/"}});
  EXPECT_EQ(host_and_prefix.match("a.example.com", "/api/x"), 0u);
  EXPECT_EQ(host_and_prefix.match("a.example.com", "/static/x"), std::nullopt);
  EXPECT_EQ(host_and_prefix.match("example.com", "/api/x"), std::nullopt);
}

TEST(RouteTable, FirstMatchingRouteWins) {
  RouteTable table = tableOf({
      {.host = "api.example.com", .path_prefix = "/v2/"},  // 0
      {.host = "*.example.com", .path = "/health"},        // 1
      {.host = "api.example.com"},                         // 2
      {.host = "*.example.com"},                           // 3
      {.path_prefix = "/"},                                // 4
      {},                                                  // 5: only an empty path gets here
  });
  EXPECT_EQ(table.match("api.example.com", "/v2/users"), 0u);
  EXPECT_EQ(table.match("api.example.com", "/health"), 1u);
  EXPECT_EQ(table.match("api.example.com", "/v1/users"), 2u);
  EXPECT_EQ(table.match("www.example.com", "/v2/users"), 3u);
  EXPECT_EQ(table.match("example.com", "/anything"), 4u);
  EXPECT_EQ(table.match("example.com", ""), 5u);
}

TEST(RouteTable, ReturnsNothingWhenNoRouteMatches) {
  RouteTable table = tableOf({{.host = "example.com"}, {.path_prefix = "/api"}});
  EXPECT_EQ(table.match("other.com", "/static"), std::nullopt);
  EXPECT_EQ(tableOf({}).match("example.com", "/"), std::nullopt);
  EXPECT_EQ(tableOf({}).size(), 0u);
}

}  // namespace
}  // namespace weir::routing
