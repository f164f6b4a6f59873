// RouteTable::match(RequestView): each condition beyond host and path, and first-match order.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "routing/request_view.h"
#include "routing/route_table.h"

namespace weir::routing {
namespace {

using config::HeaderMatch;
using Kind = config::HeaderMatch::Kind;

RouteTable tableOf(const std::vector<config::RouteMatch>& matches) {
  std::vector<config::Route> routes;
  for (const auto& m : matches) {
    config::Route r;
    r.match = m;
    r.upstream = "backend";
    routes.push_back(std::move(r));
  }
  return RouteTable(routes);
}

RequestView get(std::string_view host, std::string_view path, std::string_view query = {},
                const HeaderLookup* headers = nullptr) {
  return RequestView{
      .method = "GET", .host = host, .path = path, .query = query, .headers = headers};
}

TEST(RouteConditions, HostRegexIsAFullCaseInsensitiveMatchOfTheHostWithoutPort) {
  RouteTable table = tableOf({{.host_regex = R"(api[0-9]+\.example\.com)"}});
  EXPECT_EQ(table.match(get("api1.example.com", "/")), 0u);
  EXPECT_EQ(table.match(get("API42.Example.COM:8443", "/")), 0u);
  EXPECT_EQ(table.match(get("api42.example.com.", "/")), 0u);
  EXPECT_EQ(table.match(get("api.example.com", "/")), std::nullopt);
  EXPECT_EQ(table.match(get("xapi1.example.com", "/")), std::nullopt);  // full, not partial
  EXPECT_EQ(table.match(get("api1.example.com.evil", "/")), std::nullopt);
}

TEST(RouteConditions, HostRegexCombinesWithAWildcardHost) {
  RouteTable table = tableOf({{.host = "*.example.com", .host_regex = "^(a|b)\\..*$"}});
  EXPECT_EQ(table.match(get("a.example.com", "/")), 0u);
  EXPECT_EQ(table.match(get("c.example.com", "/")), std::nullopt);
  EXPECT_EQ(table.match(get("a.example.org", "/")), std::nullopt);
}

TEST(RouteConditions, PathRegexMatchesAnywhereInThePathLikeNginx) {
  RouteTable table = tableOf({{.path_regex = "^/users/[0-9]+$"}, {.path_regex = R"(\.php)"}});
  EXPECT_EQ(table.match(get("h", "/users/42")), 0u);
  EXPECT_EQ(table.match(get("h", "/users/42/x")), std::nullopt);
  EXPECT_EQ(table.match(get("h", "/Users/42")), std::nullopt);  // case-sensitive
  EXPECT_EQ(table.match(get("h", "/a/index.php")), 1u);
  EXPECT_EQ(table.match(get("h", "/a/index.php/extra")), 1u);
  EXPECT_EQ(table.match(get("h", "/a/indexphp")), std::nullopt);
}

TEST(RouteConditions, PathRegexSeesThePathWithoutTheQuery) {
  RouteTable table = tableOf({{.path_regex = "x=1"}});
  EXPECT_EQ(table.match(get("h", "/a", "x=1")), std::nullopt);
  EXPECT_EQ(table.match(get("h", "/x=1", "")), 0u);
}

TEST(RouteConditions, MethodsAreExactUpperCaseNames) {
  RouteTable table = tableOf({{.methods = {"GET", "POST"}}});
  RequestView req = get("h", "/");
  EXPECT_EQ(table.match(req), 0u);
  req.method = "POST";
  EXPECT_EQ(table.match(req), 0u);
  req.method = "HEAD";  // GET does not imply HEAD
  EXPECT_EQ(table.match(req), std::nullopt);
  req.method = "get";
  EXPECT_EQ(table.match(req), std::nullopt);
  req.method = "";
  EXPECT_EQ(table.match(req), std::nullopt);
}

TEST(RouteConditions, HeaderExactValueComparesBytes) {
  RouteTable table = tableOf({{.headers = {{"X-Env", Kind::Exact, "prod"}}}});
  HeaderList prod{{"x-env", "prod"}};
  HeaderList upper{{"X-Env", "PROD"}};
  HeaderList other{{"X-Other", "prod"}};
  EXPECT_EQ(table.match(get("h", "/", "", &prod)), 0u);  // names ignore case
  EXPECT_EQ(table.match(get("h", "/", "", &upper)), std::nullopt);
  EXPECT_EQ(table.match(get("h", "/", "", &other)), std::nullopt);
  EXPECT_EQ(table.match(get("h", "/")), std::nullopt);
}

TEST(RouteConditions, HeaderConditionTestsTheFirstFieldOfThatName) {
  RouteTable table = tableOf({{.headers = {{"X-Env", Kind::Exact, "prod"}}}});
  HeaderList first{{"X-Env", "prod"}, {"X-Env", "dev"}};
  HeaderList second{{"X-Env", "dev"}, {"X-Env", "prod"}};
  EXPECT_EQ(table.match(get("h", "/", "", &first)), 0u);
  EXPECT_EQ(table.match(get("h", "/", "", &second)), std::nullopt);
}

TEST(RouteConditions, HeaderRegexIsAPartialRe2Match) {
  RouteTable table = tableOf({{.headers = {{"User-Agent", Kind::Regex, "(?i)curl"}}}});
  HeaderList curl{{"User-Agent", "curl/8.4.0"}};
  HeaderList loud{{"User-Agent", "Mozilla (CURL compatible)"}};
  HeaderList wget{{"User-Agent", "Wget/1.21"}};
  EXPECT_EQ(table.match(get("h", "/", "", &curl)), 0u);
  EXPECT_EQ(table.match(get("h", "/", "", &loud)), 0u);
  EXPECT_EQ(table.match(get("h", "/", "", &wget)), std::nullopt);
  EXPECT_EQ(table.match(get("h", "/")), std::nullopt);
}

TEST(RouteConditions, HeaderPresentAndAbsentLookOnlyAtTheName) {
  RouteTable table = tableOf({{.headers = {{"X-Debug", Kind::Present, ""}}},
                              {.headers = {{"X-Debug", Kind::Absent, ""}}}});
  HeaderList empty_value{{"x-debug", ""}};
  HeaderList none{{"X-Other", "1"}};
  EXPECT_EQ(table.match(get("h", "/", "", &empty_value)), 0u);
  EXPECT_EQ(table.match(get("h", "/", "", &none)), 1u);
  EXPECT_EQ(table.match(get("h", "/")), 1u);  // no header lookup: no fields
}

TEST(RouteConditions, EveryHeaderConditionMustHold) {
  RouteTable table = tableOf({{.headers = {{"A", Kind::Exact, "1"}, {"B", Kind::Present, ""}}}});
  HeaderList both{{"A", "1"}, {"B", "x"}};
  HeaderList only_a{{"A", "1"}};
  EXPECT_EQ(table.match(get("h", "/", "", &both)), 0u);
  EXPECT_EQ(table.match(get("h", "/", "", &only_a)), std::nullopt);
}

TEST(RouteConditions, QueryMatchesTheFirstParameterOfThatNameExactly) {
  RouteTable table = tableOf({{.query = {{"version", "2"}}}});
  EXPECT_EQ(table.match(get("h", "/", "version=2")), 0u);
  EXPECT_EQ(table.match(get("h", "/", "a=1&version=2&b")), 0u);
  EXPECT_EQ(table.match(get("h", "/", "version=2&version=3")), 0u);
  EXPECT_EQ(table.match(get("h", "/", "version=3&version=2")), std::nullopt);
  EXPECT_EQ(table.match(get("h", "/", "version=20")), std::nullopt);
  EXPECT_EQ(table.match(get("h", "/", "xversion=2")), std::nullopt);
  EXPECT_EQ(table.match(get("h", "/", "version=%32")), std::nullopt);  // no decoding
  EXPECT_EQ(table.match(get("h", "/", "")), std::nullopt);
}

TEST(RouteConditions, QueryParameterWithoutValueEqualsTheEmptyString) {
  RouteTable table = tableOf({{.query = {{"debug", ""}}}});
  EXPECT_EQ(table.match(get("h", "/", "debug")), 0u);
  EXPECT_EQ(table.match(get("h", "/", "a=1&debug=")), 0u);
  EXPECT_EQ(table.match(get("h", "/", "debug=1")), std::nullopt);
}

TEST(RouteConditions, EveryConditionOfARouteMustHold) {
  RouteTable table = tableOf({{.host = "api.example.com",
                               .path_prefix = "/v1/",
                               .path_regex = "/[0-9]+$",
                               .methods = {"GET"},
                               .headers = {{"X-Env", Kind::Exact, "prod"}},
                               .query = {{"v", "2"}}}});
  HeaderList prod{{"X-Env", "prod"}};
  HeaderList dev{{"X-Env", "dev"}};
  RequestView ok = get("api.example.com", "/v1/users/7", "v=2", &prod);
  EXPECT_EQ(table.match(ok), 0u);
  RequestView r = ok;
  r.host = "web.example.com";
  EXPECT_EQ(table.match(r), std::nullopt);
  r = ok;
  r.path = "/v2/users/7";
  EXPECT_EQ(table.match(r), std::nullopt);
  r = ok;
  r.path = "/v1/users/x";
  EXPECT_EQ(table.match(r), std::nullopt);
  r = ok;
  r.method = "POST";
  EXPECT_EQ(table.match(r), std::nullopt);
  r = ok;
  r.headers = &dev;
  EXPECT_EQ(table.match(r), std::nullopt);
  r = ok;
  r.query = "v=3";
  EXPECT_EQ(table.match(r), std::nullopt);
}

TEST(RouteConditions, FirstMatchingRouteWinsAcrossConditionKinds) {
  RouteTable table = tableOf({
      {.host = "api.example.com", .methods = {"POST"}},      // 0
      {.path_regex = "^/admin"},                             // 1
      {.host = "*.example.com", .query = {{"beta", "1"}}},   // 2
      {.host = "api.example.com", .path_prefix = "/admin"},  // 3: shadowed by 1
      {.host_regex = ".*\\.example\\.com"},                  // 4
      {.path_prefix = "/"},                                  // 5
  });
  RequestView post = get("api.example.com", "/admin/x");
  post.method = "POST";
  EXPECT_EQ(table.match(post), 0u);
  EXPECT_EQ(table.match(get("api.example.com", "/admin/x")), 1u);
  EXPECT_EQ(table.match(get("api.example.com", "/x", "beta=1")), 2u);
  EXPECT_EQ(table.match(get("api.example.com", "/x")), 4u);
  EXPECT_EQ(table.match(get("other.org", "/x")), 5u);
  EXPECT_EQ(table.match(get("other.org", "")), std::nullopt);
}

TEST(RouteConditions, HostAndPathOverloadSeesNoMethodHeadersOrQuery) {
  RouteTable table = tableOf({
      {.path = "/a", .methods = {"GET"}},
      {.path = "/a", .headers = {{"X", Kind::Present, ""}}},
      {.path = "/a", .query = {{"q", ""}}},
      {.path = "/a", .headers = {{"X", Kind::Absent, ""}}},
  });
  EXPECT_EQ(table.match("example.com", "/a"), 3u);
}

TEST(RouteConditions, InvalidRegexNeverMatches) {
  RouteTable table = tableOf({{.path_regex = "("}, {.host_regex = "[z-a]"}, {}});
  EXPECT_EQ(table.match(get("h", "/(")), 2u);
}

TEST(HostOf, DropsPortBracketsAndOneTrailingDot) {
  EXPECT_EQ(hostOf("Example.com:80"), "Example.com");
  EXPECT_EQ(hostOf("example.com."), "example.com");
  EXPECT_EQ(hostOf("example.com.:8080"), "example.com");
  EXPECT_EQ(hostOf("[::1]:8080"), "::1");
  EXPECT_EQ(hostOf("[::1]"), "::1");
  EXPECT_EQ(hostOf("::1"), "::1");
  EXPECT_EQ(hostOf(""), "");
}

TEST(HeaderList, FindsTheFirstFieldIgnoringCase) {
  HeaderList list{{"A", "1"}, {"a", "2"}};
  list.add("B", "3");
  ASSERT_NE(list.find("a"), nullptr);
  EXPECT_EQ(*list.find("a"), "1");
  EXPECT_EQ(*list.find("b"), "3");
  EXPECT_EQ(list.find("c"), nullptr);
}

}  // namespace
}  // namespace weir::routing
