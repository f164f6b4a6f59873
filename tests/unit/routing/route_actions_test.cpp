// Redirect expansion, the path sent upstream, header edits, and explain().
#include "routing/route_actions.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "routing/route_table.h"

namespace weir::routing {
namespace {

using Kind = config::HeaderMatch::Kind;

const RedirectParts kParts{.scheme = "http",
                           .host = "example.com",
                           .uri = "/a/b?x=1&y=2",
                           .path = "/a/b",
                           .query = "x=1&y=2"};

TEST(ExpandRedirect, ReplacesEveryPlaceholder) {
  EXPECT_EQ(expandRedirect("https://{host}{uri}", kParts), "https://example.com/a/b?x=1&y=2");
  EXPECT_EQ(expandRedirect("{scheme}://new.example.com{path}?from={host}&{query}", kParts),
            "http://new.example.com/a/b?from=example.com&x=1&y=2");
  EXPECT_EQ(expandRedirect("{host}{host}", kParts), "example.comexample.com");
}

TEST(ExpandRedirect, TextWithoutPlaceholdersIsKept) {
  EXPECT_EQ(expandRedirect("https://example.org/", kParts), "https://example.org/");
  EXPECT_EQ(expandRedirect("", kParts), "");
  EXPECT_EQ(expandRedirect("/a}b", kParts), "/a}b");
}

TEST(ExpandRedirect, UnknownOrUnclosedPlaceholdersAreKeptAsWritten) {
  EXPECT_EQ(expandRedirect("/{nope}/{path}", kParts), "/{nope}//a/b");
  EXPECT_EQ(expandRedirect("/{path", kParts), "/{path");
  EXPECT_EQ(expandRedirect("{path}{", kParts), "/a/b{");
}

TEST(ExpandRedirect, EmptyValuesLeaveNothing) {
  RedirectParts parts = kParts;
  parts.query = "";
  EXPECT_EQ(expandRedirect("{path}?{query}", parts), "/a/b?");
}

config::Route upstreamRoute() {
  config::Route r;
  r.upstream = "web";
  return r;
}

TEST(RewritePath, WithoutModifiersThePathIsUnchanged) {
  RouteTable table({upstreamRoute()});
  EXPECT_EQ(table.rewritePath(0, "/a/b"), "/a/b");
  EXPECT_EQ(table.rewritePath(0, "/"), "/");
}

TEST(RewritePath, StripPrefixIsRemovedOnlyWhenPresent) {
  config::Route r = upstreamRoute();
  r.strip_prefix = "/v1";
  RouteTable table({r});
  EXPECT_EQ(table.rewritePath(0, "/v1/users"), "/users");
  EXPECT_EQ(table.rewritePath(0, "/v1"), "/");
  EXPECT_EQ(table.rewritePath(0, "/v1abc"), "/abc");
  EXPECT_EQ(table.rewritePath(0, "/v2/users"), "/v2/users");
  EXPECT_EQ(table.rewritePath(0, "/"), "/");
}

TEST(RewritePath, StripPrefixWithTrailingSlashKeepsALeadingSlash) {
  config::Route r = upstreamRoute();
  r.strip_prefix = "/v1/";
  RouteTable table({r});
  EXPECT_EQ(table.rewritePath(0, "/v1/users"), "/users");
  EXPECT_EQ(table.rewritePath(0, "/v1/"), "/");
}

TEST(RewritePath, AddPrefixIsPrependedWithoutDoublingTheSlash) {
  config::Route r = upstreamRoute();
  r.add_prefix = "/api";
  config::Route slash = upstreamRoute();
  slash.add_prefix = "/api/";
  RouteTable table({r, slash});
  EXPECT_EQ(table.rewritePath(0, "/users"), "/api/users");
  EXPECT_EQ(table.rewritePath(0, "/"), "/api/");
  EXPECT_EQ(table.rewritePath(1, "/users"), "/api/users");
  EXPECT_EQ(table.rewritePath(1, "/"), "/api/");
}

TEST(RewritePath, StripThenAdd) {
  config::Route r = upstreamRoute();
  r.strip_prefix = "/v1";
  r.add_prefix = "/api/v1";
  RouteTable table({r});
  EXPECT_EQ(table.rewritePath(0, "/v1/users"), "/api/v1/users");
  EXPECT_EQ(table.rewritePath(0, "/v1"), "/api/v1/");
  EXPECT_EQ(table.rewritePath(0, "/other"), "/api/v1/other");
}

TEST(RewritePath, RewriteReplacesTheFirstMatchWithGroups) {
  config::Route r = upstreamRoute();
  r.rewrite = config::Rewrite{"^/old/(.*)$", R"(/new/\1)"};
  config::Route mid = upstreamRoute();
  mid.rewrite = config::Rewrite{"[0-9]+", "N"};
  RouteTable table({r, mid});
  EXPECT_EQ(table.rewritePath(0, "/old/a/b"), "/new/a/b");
  EXPECT_EQ(table.rewritePath(0, "/older/a"), "/older/a");
  EXPECT_EQ(table.rewritePath(1, "/u/12/p/34"), "/u/N/p/34");
}

TEST(RewritePath, RewriteRunsAfterStripAndAdd) {
  config::Route r = upstreamRoute();
  r.strip_prefix = "/v1";
  r.add_prefix = "/api";
  r.rewrite = config::Rewrite{"^/api/users/([0-9]+)$", R"(/api/user?id=\1)"};
  RouteTable table({r});
  EXPECT_EQ(table.rewritePath(0, "/v1/users/42"), "/api/user?id=42");
  EXPECT_EQ(table.rewritePath(0, "/v1/users/x"), "/api/users/x");
}

TEST(RewritePath, ResultAlwaysStartsWithASlash) {
  config::Route r = upstreamRoute();
  r.rewrite = config::Rewrite{"^/", ""};
  RouteTable table({r});
  EXPECT_EQ(table.rewritePath(0, "/a"), "/a");
}

TEST(ApplyHeaderOps, RemovesThenSetsThenAdds) {
  config::HeaderOps ops{.set = {{"X-A", "new"}},
                        .add = {{"X-B", "2"}, {"X-A", "extra"}},
                        .remove = {"cookie", "x-gone"}};
  std::vector<config::Header> fields{
      {"Host", "h"}, {"x-a", "old1"}, {"Cookie", "c"}, {"X-A", "old2"}, {"X-Gone", "g"}};
  applyHeaderOps(ops, fields);
  std::vector<std::string> flat;
  for (const auto& f : fields) flat.push_back(f.name + ": " + f.value);
  EXPECT_EQ(flat, (std::vector<std::string>{"Host: h", "X-A: new", "X-B: 2", "X-A: extra"}));
}

TEST(ApplyHeaderOps, EmptyOpsChangeNothing) {
  std::vector<config::Header> fields{{"A", "1"}};
  applyHeaderOps(config::HeaderOps{}, fields);
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_EQ(fields[0].value, "1");
}

// --- explain ---

std::vector<config::Route> explainRoutes() {
  std::vector<config::Route> routes(7);
  routes[0].match.host = "api.example.com";
  routes[0].upstream = "api";
  routes[1].match.path_prefix = "/v1/";
  routes[1].upstream = "v1";
  routes[2].match.methods = {"POST", "PUT"};
  routes[2].respond = config::Respond{405, "", {}};
  routes[3].match.headers = {{"X-Env", Kind::Exact, "prod"}, {"User-Agent", Kind::Regex, "curl"}};
  routes[3].upstream = "prod";
  routes[4].match.query = {{"version", "2"}};
  routes[4].upstream = "v2";
  routes[5].match.path_regex = "^/users/[0-9]+$";
  routes[5].redirect = config::Redirect{301, "https://{host}{uri}"};
  routes[6].upstream = "web";
  return routes;
}

TEST(Explain, SaysWhichConditionFailedForEachRouteBeforeTheMatch) {
  RouteTable table(explainRoutes(), "listeners[0].routes");
  HeaderList headers{{"X-Env", "prod"}, {"User-Agent", "wget"}};
  RequestView req{.method = "GET",
                  .host = "www.example.com:8080",
                  .path = "/users/7",
                  .query = "version=1",
                  .headers = &headers};
  EXPECT_EQ(table.explain(req),
            "route 0 (listeners[0].routes[0]): no: host api.example.com does not match "
            "www.example.com\n"
            "route 1 (listeners[0].routes[1]): no: path_prefix /v1/ does not match /users/7\n"
            "route 2 (listeners[0].routes[2]): no: method GET is not one of POST, PUT\n"
            "route 3 (listeners[0].routes[3]): no: header User-Agent 'wget' does not match "
            "~curl\n"
            "route 4 (listeners[0].routes[4]): no: query version is '1', not '2'\n"
            "route 5 (listeners[0].routes[5]): MATCH -> redirect 301 https://{host}{uri}\n");
}

TEST(Explain, ReportsMissingHeadersAndParameters) {
  RouteTable table(explainRoutes());
  RequestView req{.method = "GET", .host = "h", .path = "/x"};
  EXPECT_EQ(table.explain(req),
            "route 0: no: host api.example.com does not match h\n"
            "route 1: no: path_prefix /v1/ does not match /x\n"
            "route 2: no: method GET is not one of POST, PUT\n"
            "route 3: no: header X-Env is missing (want 'prod')\n"
            "route 4: no: query version is missing (want '2')\n"
            "route 5: no: path_regex ^/users/[0-9]+$ does not match /x\n"
            "route 6: MATCH -> upstream web\n");
}

TEST(Explain, StopsAtTheFirstMatch) {
  RouteTable table(explainRoutes(), "routes");
  RequestView req{.method = "GET", .host = "API.example.com", .path = "/"};
  EXPECT_EQ(table.explain(req), "route 0 (routes[0]): MATCH -> upstream api\n");
  req = {.method = "PUT", .host = "h", .path = "/"};
  EXPECT_EQ(table.explain(req),
            "route 0 (routes[0]): no: host api.example.com does not match h\n"
            "route 1 (routes[1]): no: path_prefix /v1/ does not match /\n"
            "route 2 (routes[2]): MATCH -> respond 405\n");
}

TEST(Explain, EndsWithNoRouteWhenNothingMatches) {
  std::vector<config::Route> routes(2);
  routes[0].match.host = "*.example.com";
  routes[0].match.host_regex = "^a\\.";
  routes[0].upstream = "a";
  routes[1].match.path = "/exact";
  routes[1].match.headers = {{"X-Debug", Kind::Absent, ""}, {"X-On", Kind::Present, ""}};
  routes[1].upstream = "b";
  RouteTable table(routes);
  HeaderList debug{{"x-debug", "1"}};
  EXPECT_EQ(table.explain({.method = "GET", .host = "b.example.com", .path = "/exact"}),
            "route 0: no: host_regex ^a\\. does not match b.example.com\n"
            "route 1: no: header X-On is missing\n"
            "no route matches\n");
  EXPECT_EQ(table.explain({.host = "", .path = "/exact", .headers = &debug}),
            "route 0: no: host *.example.com does not match ''\n"
            "route 1: no: header X-Debug is present\n"
            "no route matches\n");
  EXPECT_EQ(table.explain({.host = "x", .path = "/"}),
            "route 0: no: host *.example.com does not match x\n"
            "route 1: no: path /exact does not match /\n"
            "no route matches\n");
}

TEST(Explain, AgreesWithMatch) {
  RouteTable table(explainRoutes());
  HeaderList headers{{"X-Env", "prod"}, {"User-Agent", "curl/8"}};
  RequestView req{.method = "GET", .host = "h", .path = "/x", .headers = &headers};
  EXPECT_EQ(table.match(req), 3u);
  EXPECT_TRUE(table.explain(req).ends_with("route 3: MATCH -> upstream prod\n"));
}

}  // namespace
}  // namespace weir::routing
