#include <gtest/gtest.h>

#include "config/config.h"
#include "load_test_support.h"

namespace weir::config {
namespace {

TEST(ConfigErrors, UnknownKeyIsReportedAtTheKey) {
  EXPECT_EQ(errorsOf(minimalWith(R"(
upstreams:
  - name: web
    servers:
      - {address: 127.0.0.1:9001}
      - {address: 127.0.0.1:9002, wieght: 2}
)")),
            Errors{"t.yaml:10:35: upstreams[0].servers[1].wieght: unknown key"});
}

TEST(ConfigErrors, UnknownTopLevelKeyIsReported) {
  EXPECT_EQ(errorsOf(minimalWith("listener: {}\n")), Errors{"t.yaml:6:1: listener: unknown key"});
}

TEST(ConfigErrors, MissingRequiredKeyIsReportedAtTheEnclosingMapping) {
  EXPECT_EQ(errorsOf(R"(
listeners:
  - name: a
    listen: 127.0.0.1:80
    routes: [{respond: {}}]
  - name: b
    routes: [{respond: {}}]
)"),
            Errors{"t.yaml:5:5: listeners[1]: required key 'listen' is missing"});
}

TEST(ConfigErrors, ReportsEveryErrorAtOnceInFileOrder) {
  EXPECT_EQ(errorsOf(R"(
workers: 0
listeners:
  - name: a
    listen: 127.0.0.1:80
    routes: [{upstream: web}]
  - name: b
    routes: [{upstream: nope}]
upstreams:
  - name: web
    servers:
      - {address: 127.0.0.1:9001, wieght: 2}
      - {address: 127.0.0.1:9002, weight: 0}
timeouts: {client_header: 10}
)"),
            (Errors{
                "t.yaml:1:10: workers: must be auto or 1..256, got '0'",
                "t.yaml:6:5: listeners[1]: required key 'listen' is missing",
                "t.yaml:7:25: listeners[1].routes[0].upstream: no upstream named 'nope'",
                "t.yaml:11:35: upstreams[0].servers[0].wieght: unknown key",
                "t.yaml:12:43: upstreams[0].servers[1].weight: must be 1..1000, got 0",
                "t.yaml:13:27: timeouts.client_header: needs a unit (ms, s, m, h)",
            }));
}

TEST(ConfigErrors, WrongTypesAreReported) {
  EXPECT_EQ(errorsOf(R"(
listeners: {name: a}
upstreams: web
limits: [1, 2]
timeouts: 5s
access_log: {path: [a]}
)"),
            (Errors{
                "t.yaml:1:12: listeners: must be a sequence",
                "t.yaml:2:12: upstreams: must be a sequence",
                "t.yaml:3:9: limits: must be a mapping",
                "t.yaml:4:11: timeouts: must be a mapping",
                "t.yaml:5:20: access_log.path: must be a string",
            }));
}

TEST(ConfigErrors, EntryOfTheWrongTypeIsReported) {
  EXPECT_EQ(errorsOf(R"(
listeners:
  - public
)"),
            Errors{"t.yaml:2:5: listeners[0]: must be a mapping"});
}

TEST(ConfigErrors, NullValueIsReportedAtItsKey) {
  EXPECT_EQ(errorsOf(R"(
listeners:
  - name:
    listen: 127.0.0.1:80
    routes: [{respond: {}}]
)"),
            Errors{"t.yaml:2:5: listeners[0].name: must be a string"});
}

TEST(ConfigErrors, EmptyListsAreReported) {
  EXPECT_EQ(errorsOf(R"(
listeners:
  - {name: a, listen: 127.0.0.1:80, routes: []}
upstreams:
  - {name: web, servers: []}
)"),
            (Errors{
                "t.yaml:2:45: listeners[0].routes: must have at least one entry",
                "t.yaml:4:26: upstreams[0].servers: must have at least one entry",
            }));
  EXPECT_EQ(errorsOf("listeners: []\n"),
            Errors{"t.yaml:1:12: listeners: must have at least one entry"});
}

TEST(ConfigErrors, MissingListenersIsReportedAtTheTop) {
  EXPECT_EQ(errorsOf("workers: 2\n"), Errors{"t.yaml:1:1: required key 'listeners' is missing"});
}

TEST(ConfigErrors, TopLevelMustBeAMapping) {
  EXPECT_EQ(errorsOf("- a\n- b\n"), Errors{"t.yaml:1:1: must be a mapping"});
}

TEST(ConfigErrors, EmptyDocumentIsReported) {
  EXPECT_EQ(errorsOf(""), Errors{"t.yaml: config is empty"});
  EXPECT_EQ(errorsOf("# nothing yet\n"), Errors{"t.yaml: config is empty"});
}

TEST(ConfigErrors, SyntaxErrorIsReportedWithItsPosition) {
  EXPECT_EQ(errorsOf("listeners: [a, b\n"),
            Errors{"t.yaml:2:1: invalid YAML: end of sequence flow not found"});
}

TEST(ConfigErrors, SecondDocumentIsReported) {
  EXPECT_EQ(errorsOf(minimalWith("---\nworkers: 2\n")),
            Errors{"t.yaml:7:1: only one YAML document is allowed"});
}

// yaml-cpp 0.7's LoadAll never returns on this text (it allocates empty documents until memory
// runs out); the loader must answer at once.
TEST(ConfigErrors, TextThatMakesYamlCppLoopIsRefusedAtOnce) {
  EXPECT_EQ(errorsOf(",a: [1"), Errors{"t.yaml: config is empty"});
  EXPECT_FALSE(errorsOf(",a: [1\n---\nworkers: 1\n").empty());
}

TEST(ConfigErrors, DuplicateKeyIsReported) {
  EXPECT_EQ(errorsOf(minimalWith("limits: {max_connections: 5, max_connections: 6}\n")),
            Errors{"t.yaml:6:30: limits.max_connections: duplicate key"});
}

TEST(ConfigErrors, DuplicateNamesAreReportedAtTheSecond) {
  EXPECT_EQ(
      errorsOf(R"(
listeners:
  - {name: a, listen: 127.0.0.1:80, routes: [{upstream: web}]}
  - {name: a, listen: 127.0.0.1:81, routes: [{upstream: web}]}
upstreams:
  - {name: web, servers: [{address: 127.0.0.1:9001}]}
  - {name: web, servers: [{address: 127.0.0.1:9002}]}
)"),
      (Errors{
          "t.yaml:3:12: listeners[1].name: duplicate name 'a', already used by listeners[0]",
          "t.yaml:6:12: upstreams[1].name: duplicate name 'web', already used by upstreams[0]",
      }));
}

TEST(ConfigErrors, DuplicateListenAddressesAreReported) {
  EXPECT_EQ(errorsOf(R"(
listeners:
  - {name: a, listen: 127.0.0.1:80, routes: [{respond: {}}]}
  - {name: b, listen: "localhost:80", routes: [{respond: {}}]}
  - {name: c, listen: "*:81", routes: [{respond: {}}]}
  - {name: d, listen: 10.0.0.1:81, routes: [{respond: {}}]}
  - {name: e, listen: "[::1]:81", routes: [{respond: {}}]}
)"),
            (Errors{
                "t.yaml:3:23: listeners[1].listen: duplicate listen address: listeners[0] already "
                "listens on 127.0.0.1:80",
                "t.yaml:5:23: listeners[3].listen: duplicate listen address: listeners[2] already "
                "listens on *:81",
            }));
}

TEST(ConfigErrors, BadListenAddressesAreReported) {
  EXPECT_EQ(errorsOf(R"(
listeners:
  - {name: a, listen: example.com:80, routes: [{respond: {}}]}
  - {name: b, listen: "::1:80", routes: [{respond: {}}]}
  - {name: c, listen: 127.0.0.1:99999, routes: [{respond: {}}]}
  - {name: d, listen: 8080, routes: [{respond: {}}]}
  - {name: e, listen: "", routes: [{respond: {}}]}
)"),
            (Errors{
                "t.yaml:2:23: listeners[0].listen: host must be an IP address, localhost or *, "
                "got 'example.com'",
                "t.yaml:3:23: listeners[1].listen: IPv6 addresses need brackets, e.g. [::1]:8080",
                "t.yaml:4:23: listeners[2].listen: port must be 0..65535, got '99999'",
                "t.yaml:5:23: listeners[3].listen: must be host:port, e.g. 127.0.0.1:8080",
                "t.yaml:6:23: listeners[4].listen: must not be empty",
            }));
}

TEST(ConfigErrors, BadServersAreReported) {
  EXPECT_EQ(errorsOf(minimalWith(R"(
upstreams:
  - name: web
    servers:
      - {address: "bad host:80", weight: 1001}
      - {address: 127.0.0.1:0, weight: many}
      - {address: 127.0.0.1:9001}
      - {address: 127.0.0.1:9001}
      - {weight: 2}
)")),
            (Errors{
                "t.yaml:9:19: upstreams[0].servers[0].address: 'bad host' is not an IP address "
                "or host name",
                "t.yaml:9:42: upstreams[0].servers[0].weight: must be 1..1000, got 1001",
                "t.yaml:10:19: upstreams[0].servers[1].address: port must be 1..65535, got '0'",
                "t.yaml:10:40: upstreams[0].servers[1].weight: must be an integer, got 'many'",
                "t.yaml:12:19: upstreams[0].servers[3].address: duplicate server, already listed "
                "as upstreams[0].servers[2]",
                "t.yaml:13:9: upstreams[0].servers[4]: required key 'address' is missing",
            }));
}

TEST(ConfigErrors, RouteNeedsExactlyOneAction) {
  EXPECT_EQ(errorsOf(R"(
listeners:
  - name: a
    listen: 127.0.0.1:80
    routes:
      - match: {path: /}
      - {upstream: web, respond: {}}
upstreams:
  - {name: web, servers: [{address: 127.0.0.1:9001}]}
)"),
            (Errors{
                "t.yaml:5:9: listeners[0].routes[0]: exactly one action of: upstream, respond, "
                "redirect",
                "t.yaml:6:9: listeners[0].routes[1]: exactly one action of: upstream, respond, "
                "redirect",
            }));
}

TEST(ConfigErrors, UnknownUpstreamIsReportedAtTheReference) {
  EXPECT_EQ(errorsOf(R"(
listeners:
  - name: a
    listen: 127.0.0.1:80
    routes:
      - upstream: wbe
)"),
            Errors{"t.yaml:5:19: listeners[0].routes[0].upstream: no upstream named 'wbe'"});
}

TEST(ConfigErrors, BrokenUpstreamsDoNotCascadeIntoRoutes) {
  EXPECT_EQ(errorsOf(R"(
listeners:
  - {name: a, listen: 127.0.0.1:80, routes: [{upstream: web}]}
upstreams:
  - {name: [web], servers: [{address: 127.0.0.1:9001}]}
)"),
            Errors{"t.yaml:4:12: upstreams[0].name: must be a string"});
}

TEST(ConfigErrors, BadMatchesAreReported) {
  EXPECT_EQ(errorsOf(R"(
listeners:
  - name: a
    listen: 127.0.0.1:80
    routes:
      - match: {path: ping, path_prefix: v1/, host: "api.*.com", method: GET}
        respond: {}
)"),
            (Errors{
                "t.yaml:5:23: listeners[0].routes[0].match.path: must start with '/'",
                "t.yaml:5:42: listeners[0].routes[0].match.path_prefix: must start with '/'",
                "t.yaml:5:53: listeners[0].routes[0].match.host: must be a host name or *.suffix, "
                "got 'api.*.com'",
                "t.yaml:5:66: listeners[0].routes[0].match.method: unknown key",
            }));
}

TEST(ConfigErrors, BadRespondsAreReported) {
  EXPECT_EQ(errorsOf(R"(
listeners:
  - name: a
    listen: 127.0.0.1:80
    routes:
      - respond: {status: 99, body: {a: 1}}
      - respond: {status: 600, headers: [a]}
      - respond:
          headers:
            Bad Name: x
            Content-Length: 5
            X-Split: "a\r\nSet-Cookie: b"
            X-Ok: 1
)"),
            (Errors{
                "t.yaml:5:27: listeners[0].routes[0].respond.status: must be 200..599, got 99",
                "t.yaml:5:37: listeners[0].routes[0].respond.body: must be a string",
                "t.yaml:6:27: listeners[0].routes[1].respond.status: must be 200..599, got 600",
                "t.yaml:6:41: listeners[0].routes[1].respond.headers: must be a mapping",
                "t.yaml:9:13: listeners[0].routes[2].respond.headers.Bad Name: not a valid header "
                "name",
                "t.yaml:10:13: listeners[0].routes[2].respond.headers.Content-Length: set by weir "
                "from body; remove it",
                "t.yaml:11:22: listeners[0].routes[2].respond.headers.X-Split: must not contain "
                "CR, LF or NUL",
            }));
}

TEST(ConfigErrors, BadDurationsAreReported) {
  EXPECT_EQ(errorsOf(minimalWith(R"(
timeouts:
  client_header: 10
  client_body: 0s
  keepalive: soon
  shutdown_grace: 0s
upstreams:
  - name: web
    servers: [{address: 127.0.0.1:9001}]
    keepalive: {idle_timeout: 1.5s, max_idle: 100001}
    timeouts: {connect: [1s], response: 0ms}
)")),
            (Errors{
                "t.yaml:7:18: timeouts.client_header: needs a unit (ms, s, m, h)",
                "t.yaml:8:16: timeouts.client_body: must be greater than 0",
                "t.yaml:9:14: timeouts.keepalive: must be a duration like 500ms, 2s, 1m or 1h, "
                "got 'soon'",
                "t.yaml:14:31: upstreams[0].keepalive.idle_timeout: must be a duration like "
                "500ms, 2s, 1m or 1h, got '1.5s'",
                "t.yaml:14:47: upstreams[0].keepalive.max_idle: must be 0..100000, got 100001",
                "t.yaml:15:25: upstreams[0].timeouts.connect: must be a duration",
                "t.yaml:15:41: upstreams[0].timeouts.response: must be greater than 0",
            }));
}

TEST(ConfigErrors, BadLimitsAreReported) {
  EXPECT_EQ(errorsOf(minimalWith(R"(
limits:
  max_connections: 0
  max_header_bytes: 0
  max_uri_bytes: 8KB
  max_body_bytes: -1
)")),
            (Errors{
                "t.yaml:7:20: limits.max_connections: must be 1..100000000, got 0",
                "t.yaml:8:21: limits.max_header_bytes: must be at least 1 bytes, got 0",
                "t.yaml:9:18: limits.max_uri_bytes: must be a size like 512, 16KiB, 10MiB or "
                "1GiB, got '8KB'",
                "t.yaml:10:19: limits.max_body_bytes: must be a size like 512, 16KiB, 10MiB or "
                "1GiB, got '-1'",
            }));
}

TEST(ConfigErrors, BadWorkersAreReported) {
  EXPECT_EQ(errorsOf(minimalWith("workers: 257\n")),
            Errors{"t.yaml:6:10: workers: must be auto or 1..256, got '257'"});
  EXPECT_EQ(errorsOf(minimalWith("workers: many\n")),
            Errors{"t.yaml:6:10: workers: must be auto or 1..256, got 'many'"});
  EXPECT_EQ(errorsOf(minimalWith("workers: {n: 1}\n")),
            Errors{"t.yaml:6:10: workers: must be auto or 1..256"});
}

TEST(ConfigErrors, BadAccessLogIsReported) {
  EXPECT_EQ(errorsOf(minimalWith("access_log: {path: '', format: xml}\n")),
            (Errors{
                "t.yaml:6:20: access_log.path: must not be empty",
                "t.yaml:6:32: access_log.format: must be combined or json, got 'xml'",
            }));
}

}  // namespace
}  // namespace weir::config
