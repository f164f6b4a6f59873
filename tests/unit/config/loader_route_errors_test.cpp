// Errors in the route keys of the schema, each reported at its exact position. The routes
// start on line 9 (see withRoutes).
#include <gtest/gtest.h>

#include "config/config.h"
#include "load_test_support.h"

namespace weir::config {
namespace {

TEST(ConfigRouteErrors, InvalidRegexesAreReportedWithRe2sReason) {
  EXPECT_EQ(errorsOf(withRoutes(R"(
      - match: {host_regex: '^api(\.example\.com$', path_regex: '[z-a]'}
        upstream: web
      - match: {host_regex: "", path_regex: '\'}
        upstream: web
      - {match: {headers: {User-Agent: "~(?i)curl("}}, upstream: web}
)")),
            (Errors{
                "t.yaml:9:29: listeners[0].routes[0].match.host_regex: invalid regex: missing ): "
                "^api(\\.example\\.com$",
                "t.yaml:9:65: listeners[0].routes[0].match.path_regex: invalid regex: invalid "
                "character class range: z-a",
                "t.yaml:11:29: listeners[0].routes[1].match.host_regex: must not be empty",
                "t.yaml:11:45: listeners[0].routes[1].match.path_regex: invalid regex: trailing \\",
                "t.yaml:13:40: listeners[0].routes[2].match.headers.User-Agent: invalid regex: "
                "missing ): (?i)curl(",
            }));
}

TEST(ConfigRouteErrors, BadMethodsAreReported) {
  EXPECT_EQ(errorsOf(withRoutes(R"(
      - match: {methods: [get, POST, POST, "G T"]}
        upstream: web
      - match: {methods: []}
        upstream: web
      - match: {methods: GET}
        upstream: web
)")),
            (Errors{
                "t.yaml:9:27: listeners[0].routes[0].match.methods[0]: must be an upper-case "
                "method name like GET, got 'get'",
                "t.yaml:9:38: listeners[0].routes[0].match.methods[2]: duplicate method 'POST'",
                "t.yaml:9:44: listeners[0].routes[0].match.methods[3]: must be an upper-case "
                "method name like GET, got 'G T'",
                "t.yaml:11:26: listeners[0].routes[1].match.methods: must have at least one entry",
                "t.yaml:13:26: listeners[0].routes[2].match.methods: must be a sequence",
            }));
}

TEST(ConfigRouteErrors, BadHeaderMatchesAreReported) {
  EXPECT_EQ(errorsOf(withRoutes(R"(
      - match: {headers: {X-Env: [prod], Bad Name: x, X-Re: "~(", X-T: "~"}}
        upstream: web
      - match: {headers: {X-P: {present: maybe}, X-Q: {presnt: true}, X-N: }}
        upstream: web
      - match: {headers: [X-A]}
        upstream: web
)")),
            (Errors{
                "t.yaml:9:34: listeners[0].routes[0].match.headers.X-Env: must be a value, a "
                "~regex or {present: true|false}",
                "t.yaml:9:42: listeners[0].routes[0].match.headers.Bad Name: not a valid header "
                "name",
                "t.yaml:9:61: listeners[0].routes[0].match.headers.X-Re: invalid regex: missing "
                "): (",
                "t.yaml:9:72: listeners[0].routes[0].match.headers.X-T: needs a regex after '~'",
                "t.yaml:11:42: listeners[0].routes[1].match.headers.X-P.present: must be true or "
                "false, got 'maybe'",
                "t.yaml:11:55: listeners[0].routes[1].match.headers.X-Q: required key 'present' "
                "is missing",
                "t.yaml:11:56: listeners[0].routes[1].match.headers.X-Q.presnt: unknown key",
                "t.yaml:11:71: listeners[0].routes[1].match.headers.X-N: must be a value, a "
                "~regex or {present: true|false}",
                "t.yaml:13:26: listeners[0].routes[2].match.headers: must be a mapping",
            }));
}

TEST(ConfigRouteErrors, BadQueryMatchesAreReported) {
  EXPECT_EQ(errorsOf(withRoutes(R"(
      - match: {query: {version: [2], "": x}}
        upstream: web
      - match: {query: version=2}
        upstream: web
)")),
            (Errors{
                "t.yaml:9:34: listeners[0].routes[0].match.query.version: must be a string",
                "t.yaml:9:39: listeners[0].routes[0].match.query.: parameter name must not be "
                "empty",
                "t.yaml:11:24: listeners[0].routes[1].match.query: must be a mapping",
            }));
}

TEST(ConfigRouteErrors, BadRedirectsAreReported) {
  EXPECT_EQ(errorsOf(withRoutes(R"(
      - redirect: {status: 303, location: "https://{hots}{uri}"}
      - redirect: {status: 301}
      - redirect: {location: "https://{host"}
      - redirect: {location: "", code: 1}
      - redirect: {location: "/\r\n", status: abc}
      - redirect: /elsewhere
)")),
            (Errors{
                "t.yaml:9:28: listeners[0].routes[0].redirect.status: must be 301, 302, 307 or "
                "308, got 303",
                "t.yaml:9:43: listeners[0].routes[0].redirect.location: unknown placeholder "
                "{hots}; use {scheme}, {host}, {uri}, {path} or {query}",
                "t.yaml:10:19: listeners[0].routes[1].redirect: required key 'location' is missing",
                "t.yaml:11:30: listeners[0].routes[2].redirect.location: '{' without '}'; "
                "placeholders are {scheme}, {host}, {uri}, {path} or {query}",
                "t.yaml:12:30: listeners[0].routes[3].redirect.location: must not be empty",
                "t.yaml:12:34: listeners[0].routes[3].redirect.code: unknown key",
                "t.yaml:13:30: listeners[0].routes[4].redirect.location: must not contain CR, LF "
                "or NUL",
                "t.yaml:13:47: listeners[0].routes[4].redirect.status: must be an integer, got "
                "'abc'",
                "t.yaml:14:19: listeners[0].routes[5].redirect: must be a mapping",
            }));
}

TEST(ConfigRouteErrors, RouteNeedsExactlyOneActionIncludingRedirect) {
  EXPECT_EQ(errorsOf(withRoutes(R"(
      - {redirect: {location: /}, upstream: web}
      - {redirect: {location: /}, respond: {}}
      - {upstream: web, respond: {}, redirect: {location: /}}
      - match: {path: /}
)")),
            (Errors{
                "t.yaml:9:9: listeners[0].routes[0]: exactly one action of: upstream, respond, "
                "redirect",
                "t.yaml:10:9: listeners[0].routes[1]: exactly one action of: upstream, respond, "
                "redirect",
                "t.yaml:11:9: listeners[0].routes[2]: exactly one action of: upstream, respond, "
                "redirect",
                "t.yaml:12:9: listeners[0].routes[3]: exactly one action of: upstream, respond, "
                "redirect",
            }));
}

TEST(ConfigRouteErrors, BadPathModifiersAndTimeoutsAreReported) {
  EXPECT_EQ(errorsOf(withRoutes(R"(
      - upstream: web
        strip_prefix: v1
        add_prefix: ""
        timeouts: {connect: 0s, response: 5, idle: 1s}
      - {upstream: web, timeouts: 5s}
)")),
            (Errors{
                "t.yaml:10:23: listeners[0].routes[0].strip_prefix: must start with '/'",
                "t.yaml:11:21: listeners[0].routes[0].add_prefix: must not be empty",
                "t.yaml:12:29: listeners[0].routes[0].timeouts.connect: must be greater than 0",
                "t.yaml:12:43: listeners[0].routes[0].timeouts.response: needs a unit (ms, s, m, "
                "h)",
                "t.yaml:12:46: listeners[0].routes[0].timeouts.idle: unknown key",
                "t.yaml:13:35: listeners[0].routes[1].timeouts: must be a mapping",
            }));
}

TEST(ConfigRouteErrors, BadHostRewritesAreReported) {
  EXPECT_EQ(errorsOf(withRoutes(R"(
      - {upstream: web, host_rewrite: "bad host"}
      - {upstream: web, host_rewrite: "a:99999"}
      - {upstream: web, host_rewrite: "[::1"}
      - {upstream: web, host_rewrite: "a:"}
)")),
            (Errors{
                "t.yaml:9:39: listeners[0].routes[0].host_rewrite: must be a host name or "
                "address, optionally with :port, got 'bad host'",
                "t.yaml:10:39: listeners[0].routes[1].host_rewrite: must be a host name or "
                "address, optionally with :port, got 'a:99999'",
                "t.yaml:11:39: listeners[0].routes[2].host_rewrite: must be a host name or "
                "address, optionally with :port, got '[::1'",
                "t.yaml:12:39: listeners[0].routes[3].host_rewrite: must be a host name or "
                "address, optionally with :port, got 'a:'",
            }));
}

TEST(ConfigRouteErrors, BadRewritesAreReported) {
  EXPECT_EQ(errorsOf(withRoutes(R"(
      - {upstream: web, rewrite: {regex: '^/old/(.*)$', replace: '/new/\2'}}
      - {upstream: web, rewrite: {regex: '(', replace: x}}
      - {upstream: web, rewrite: {regex: '^/a', replace: '\x'}}
      - {upstream: web, rewrite: {replace: x}}
      - {upstream: web, rewrite: '^/a$'}
)")),
            (Errors{
                "t.yaml:9:66: listeners[0].routes[0].rewrite.replace: invalid replace: Rewrite "
                "schema requests 2 matches, but the regexp only has 1 parenthesized "
                "subexpressions.",
                "t.yaml:10:42: listeners[0].routes[1].rewrite.regex: invalid regex: missing ): (",
                "t.yaml:11:58: listeners[0].routes[2].rewrite.replace: invalid replace: Rewrite "
                "schema error: '\\' must be followed by a digit or '\\'.",
                "t.yaml:12:34: listeners[0].routes[3].rewrite: required key 'regex' is missing",
                "t.yaml:13:34: listeners[0].routes[4].rewrite: must be a mapping",
            }));
}

TEST(ConfigRouteErrors, BadHeaderOpsAreReported) {
  EXPECT_EQ(errorsOf(withRoutes(R"(
      - upstream: web
        request_headers:
          set: {Host: x, X-A: "a\nb", x-a: c}
          add: {Content-Length: 1, B B: 2}
          remove: [Connection, X-Ok, [x]]
          put: {}
        response_headers: {set: {Host: ok, Transfer-Encoding: chunked}, remove: X-A}
)")),
            (Errors{
                "t.yaml:11:17: listeners[0].routes[0].request_headers.set.Host: use host_rewrite "
                "to change Host",
                "t.yaml:11:31: listeners[0].routes[0].request_headers.set.X-A: must not contain "
                "CR, LF or NUL",
                "t.yaml:11:39: listeners[0].routes[0].request_headers.set.x-a: duplicate header "
                "(names ignore case)",
                "t.yaml:12:17: listeners[0].routes[0].request_headers.add.Content-Length: "
                "hop-by-hop or framing header; weir manages it",
                "t.yaml:12:36: listeners[0].routes[0].request_headers.add.B B: not a valid header "
                "name",
                "t.yaml:13:20: listeners[0].routes[0].request_headers.remove[0]: hop-by-hop or "
                "framing header; weir manages it",
                "t.yaml:13:38: listeners[0].routes[0].request_headers.remove[2]: must be a string",
                "t.yaml:14:11: listeners[0].routes[0].request_headers.put: unknown key",
                "t.yaml:15:44: listeners[0].routes[0].response_headers.set.Transfer-Encoding: "
                "hop-by-hop or framing header; weir manages it",
                "t.yaml:15:81: listeners[0].routes[0].response_headers.remove: must be a sequence",
            }));
}

TEST(ConfigRouteErrors, ModifiersNeedAnUpstreamRoute) {
  EXPECT_EQ(errorsOf(withRoutes(R"(
      - respond: {}
        strip_prefix: /v1
        timeouts: {connect: 1s}
      - redirect: {location: /}
        request_headers: {}
        host_rewrite: a
)")),
            (Errors{
                "t.yaml:10:9: listeners[0].routes[0].strip_prefix: only allowed with upstream",
                "t.yaml:11:9: listeners[0].routes[0].timeouts: only allowed with upstream",
                "t.yaml:13:9: listeners[0].routes[1].request_headers: only allowed with upstream",
                "t.yaml:14:9: listeners[0].routes[1].host_rewrite: only allowed with upstream",
            }));
}

}  // namespace
}  // namespace weir::config
