#include <gtest/gtest.h>

#include <filesystem>

#include "config/config.h"
#include "load_test_support.h"

namespace weir::config {
namespace {

using std::chrono::milliseconds;

TEST(ConfigLoader, MinimalConfigGetsDefaults) {
  Config c = load(kMinimal);
  EXPECT_EQ(c.file, "t.yaml");
  EXPECT_EQ(c.workers, 0);
  ASSERT_EQ(c.listeners.size(), 1u);
  const Listener& l = c.listeners[0];
  EXPECT_EQ(l.name, "public");
  EXPECT_EQ(l.listen.host, "127.0.0.1");
  EXPECT_EQ(l.listen.port, 8080);
  EXPECT_EQ(l.pos.line, 2);
  EXPECT_EQ(l.pos.col, 5);
  ASSERT_EQ(l.routes.size(), 1u);
  const Route& r = l.routes[0];
  EXPECT_FALSE(r.match.host || r.match.path || r.match.path_prefix);
  EXPECT_FALSE(r.upstream);
  ASSERT_TRUE(r.respond);
  EXPECT_EQ(r.respond->status, 204);
  EXPECT_EQ(r.respond->body, "");
  EXPECT_TRUE(r.respond->headers.empty());
  EXPECT_EQ(r.pos.line, 5);
  EXPECT_EQ(r.pos.col, 9);
  EXPECT_TRUE(c.upstreams.empty());
  EXPECT_EQ(c.limits.max_connections, 10'000u);
  EXPECT_EQ(c.limits.max_header_bytes, 16u * 1024);
  EXPECT_EQ(c.limits.max_uri_bytes, 8u * 1024);
  EXPECT_EQ(c.limits.max_body_bytes, 100u << 20);
  EXPECT_EQ(c.timeouts.client_header, milliseconds(10'000));
  EXPECT_EQ(c.timeouts.client_body, milliseconds(60'000));
  EXPECT_EQ(c.timeouts.keepalive, milliseconds(75'000));
  EXPECT_EQ(c.timeouts.shutdown_grace, milliseconds(30'000));
  EXPECT_EQ(c.access_log.path, "stdout");
  EXPECT_EQ(c.access_log.format, LogFormat::Combined);
}

TEST(ConfigLoader, RespondDefaultsToStatus200AndEmptyBody) {
  Config c = load(R"(
listeners:
  - {name: a, listen: "*:80", routes: [{respond: {}}]}
)");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].routes[0].respond->status, 200);
  EXPECT_EQ(c.listeners[0].routes[0].respond->body, "");
}

TEST(ConfigLoader, UpstreamGetsDefaultWeightKeepaliveAndTimeouts) {
  Config c = load(minimalWith(R"(
upstreams:
  - name: web
    servers:
      - address: 127.0.0.1:9001
)"));
  ASSERT_EQ(c.upstreams.size(), 1u);
  const Upstream& u = c.upstreams[0];
  EXPECT_EQ(u.pos.line, 7);
  EXPECT_EQ(u.pos.col, 5);
  ASSERT_EQ(u.servers.size(), 1u);
  EXPECT_EQ(u.servers[0].weight, 1);
  EXPECT_EQ(u.servers[0].pos.line, 9);
  EXPECT_EQ(u.servers[0].pos.col, 9);
  EXPECT_EQ(u.keepalive.max_idle, 64u);
  EXPECT_EQ(u.keepalive.idle_timeout, milliseconds(60'000));
  EXPECT_EQ(u.timeouts.connect, milliseconds(2'000));
  EXPECT_EQ(u.timeouts.response, milliseconds(60'000));
  EXPECT_EQ(c.findUpstream("web"), &u);
}

TEST(ConfigLoader, FullFixtureReadsEveryField) {
  LoadResult r = loadFile(WEIR_SOURCE_DIR "/tests/unit/config/fixtures/full.yaml");
  for (const ConfigError& e : r.errors) ADD_FAILURE() << e.str();
  ASSERT_TRUE(r.ok());
  const Config& c = *r.config;
  EXPECT_EQ(c.file, WEIR_SOURCE_DIR "/tests/unit/config/fixtures/full.yaml");
  EXPECT_EQ(c.workers, 4);

  ASSERT_EQ(c.listeners.size(), 2u);
  const Listener& pub = c.listeners[0];
  EXPECT_EQ(pub.listen.host, "::");
  EXPECT_EQ(pub.listen.port, 8080);
  EXPECT_EQ(pub.listen.text, "[::]:8080");
  ASSERT_EQ(pub.routes.size(), 5u);
  EXPECT_EQ(pub.routes[0].match.host, "api.example.com");
  EXPECT_EQ(pub.routes[0].match.path_prefix, "/v1/");
  EXPECT_EQ(pub.routes[0].upstream, "api");
  EXPECT_EQ(pub.routes[1].match.host, "*.example.com");
  EXPECT_EQ(pub.routes[1].match.path, "/ping");
  ASSERT_TRUE(pub.routes[1].respond);
  EXPECT_EQ(pub.routes[1].respond->status, 200);
  EXPECT_EQ(pub.routes[1].respond->body, "pong\n");
  ASSERT_EQ(pub.routes[1].respond->headers.size(), 2u);
  EXPECT_EQ(pub.routes[1].respond->headers[0].name, "Content-Type");
  EXPECT_EQ(pub.routes[1].respond->headers[0].value, "text/plain");
  EXPECT_EQ(pub.routes[1].respond->headers[1].name, "X-Served-By");
  const Route& full = pub.routes[2];
  EXPECT_EQ(full.match.host_regex, R"(^api[0-9]+\.example\.com$)");
  EXPECT_EQ(full.match.path_regex, "^/users/[0-9]+$");
  EXPECT_EQ(full.match.methods, (std::vector<std::string>{"GET", "POST"}));
  ASSERT_EQ(full.match.headers.size(), 3u);
  EXPECT_EQ(full.match.headers[1].kind, HeaderMatch::Kind::Absent);
  EXPECT_EQ(full.match.headers[2].kind, HeaderMatch::Kind::Regex);
  ASSERT_EQ(full.match.query.size(), 1u);
  EXPECT_EQ(full.match.query[0].value, "2");
  EXPECT_EQ(full.upstream, "api");
  EXPECT_EQ(full.strip_prefix, "/v1");
  EXPECT_EQ(full.add_prefix, "/api");
  EXPECT_EQ(full.rewrite->replace, R"(/new/\1)");
  EXPECT_EQ(full.request_headers.add[0].name, "X-B");
  EXPECT_EQ(full.response_headers.remove, std::vector<std::string>{"Server"});
  EXPECT_EQ(full.timeouts->connect, milliseconds(1'000));
  EXPECT_EQ(full.timeouts->response, milliseconds(60'000));  // api's own, the default
  EXPECT_EQ(full.host_rewrite, "internal.example");
  ASSERT_TRUE(pub.routes[3].redirect);
  EXPECT_EQ(pub.routes[3].redirect->status, 308);
  EXPECT_EQ(pub.routes[3].redirect->location, "https://new.example.com{uri}");
  EXPECT_EQ(pub.routes[4].upstream, "web");
  const Listener& admin = c.listeners[1];
  EXPECT_EQ(admin.listen.host, "127.0.0.1");
  EXPECT_EQ(admin.listen.text, "localhost:9900");
  EXPECT_EQ(admin.routes[0].respond->status, 404);

  ASSERT_EQ(c.upstreams.size(), 2u);
  const Upstream& web = c.upstreams[0];
  ASSERT_EQ(web.servers.size(), 2u);
  EXPECT_EQ(web.servers[0].address.host, "127.0.0.1");
  EXPECT_EQ(web.servers[0].address.port, 9001);
  EXPECT_EQ(web.servers[0].weight, 3);
  EXPECT_EQ(web.servers[1].address.host, "::1");
  EXPECT_EQ(web.servers[1].weight, 1);
  EXPECT_EQ(web.keepalive.max_idle, 8u);
  EXPECT_EQ(web.keepalive.idle_timeout, milliseconds(30'000));
  EXPECT_EQ(web.timeouts.connect, milliseconds(500));
  EXPECT_EQ(web.timeouts.response, milliseconds(60'000));
  EXPECT_EQ(c.upstreams[1].servers[0].address.host, "backend.internal");
  EXPECT_EQ(c.upstreams[1].servers[0].address.port, 80);

  EXPECT_EQ(c.limits.max_connections, 500u);
  EXPECT_EQ(c.limits.max_header_bytes, 32u << 10);
  EXPECT_EQ(c.limits.max_uri_bytes, 4u << 10);
  EXPECT_EQ(c.limits.max_body_bytes, 1ull << 30);
  EXPECT_EQ(c.timeouts.client_header, milliseconds(5'000));
  EXPECT_EQ(c.timeouts.client_body, milliseconds(30'000));
  EXPECT_EQ(c.timeouts.keepalive, milliseconds(3'600'000));
  EXPECT_EQ(c.timeouts.shutdown_grace, milliseconds(0));
  EXPECT_EQ(c.access_log.path, "/var/log/weir/access.log");
  EXPECT_EQ(c.access_log.format, LogFormat::Json);
}

TEST(ConfigLoader, ExampleConfigLoadsClean) {
  const std::string path = WEIR_SOURCE_DIR "/conf/weir.yaml";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not written yet";
  LoadResult r = loadFile(path);
  for (const ConfigError& e : r.errors) ADD_FAILURE() << e.str();
  EXPECT_TRUE(r.ok());
}

TEST(ConfigLoader, WorkersAcceptsAutoOrACount) {
  EXPECT_EQ(load(minimalWith("workers: auto\n")).workers, 0);
  EXPECT_EQ(load(minimalWith("workers: 1\n")).workers, 1);
  EXPECT_EQ(load(minimalWith("workers: 256\n")).workers, 256);
}

TEST(ConfigLoader, ListenAcceptsIpv6InBrackets) {
  Config c = load(R"(
listeners:
  - {name: v6, listen: "[::]:8080", routes: [{respond: {}}]}
  - {name: lo6, listen: "[::1]:0", routes: [{respond: {}}]}
)");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].listen.host, "::");
  EXPECT_EQ(c.listeners[0].listen.port, 8080);
  EXPECT_EQ(c.listeners[0].listen.text, "[::]:8080");
  EXPECT_EQ(c.listeners[1].listen.host, "::1");
  EXPECT_EQ(c.listeners[1].listen.port, 0);
}

TEST(ConfigLoader, ListenMapsLocalhostAndStar) {
  Config c = load(R"(
listeners:
  - {name: a, listen: "localhost:80", routes: [{respond: {}}]}
  - {name: b, listen: "*:81", routes: [{respond: {}}]}
)");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].listen.host, "127.0.0.1");
  EXPECT_EQ(c.listeners[1].listen.host, "0.0.0.0");
}

TEST(ConfigLoader, ListenersOnPortZeroDoNotClash) {
  Config c = load(R"(
listeners:
  - {name: a, listen: "127.0.0.1:0", routes: [{respond: {}}]}
  - {name: b, listen: "127.0.0.1:0", routes: [{respond: {}}]}
)");
  EXPECT_EQ(c.listeners.size(), 2u);
}

TEST(ConfigLoader, QuotedNumbersAreAccepted) {
  Config c = load(R"(
listeners:
  - {name: a, listen: "127.0.0.1:80", routes: [{respond: {status: "503"}}]}
)");
  EXPECT_EQ(c.listeners[0].routes[0].respond->status, 503);
}

TEST(ConfigLoader, MissingFileIsReportedWithoutPosition) {
  LoadResult r = loadFile("/nonexistent/weir.yaml");
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].str(), "/nonexistent/weir.yaml: cannot read: No such file or directory");
}

TEST(ConfigLoader, DirectoryIsReportedAsUnreadable) {
  LoadResult r = loadFile(WEIR_SOURCE_DIR "/tests");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].str(), WEIR_SOURCE_DIR "/tests: cannot read: Is a directory");
}

TEST(ConfigLoader, ErrorWithoutPathOmitsIt) {
  ConfigError e{"f.yaml", {3, 4}, "", "boom"};
  EXPECT_EQ(e.str(), "f.yaml:3:4: boom");
  e.path = "a.b";
  EXPECT_EQ(e.str(), "f.yaml:3:4: a.b: boom");
}

}  // namespace
}  // namespace weir::config
