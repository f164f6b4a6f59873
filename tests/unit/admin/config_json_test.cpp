// The running config as JSON (secrets left out) and the changes a candidate config would make.
#include "admin/config_json.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace weir::admin {
namespace {

using std::chrono::milliseconds;

config::Config load(std::string_view yaml) {
  config::LoadResult r = config::loadString(std::string(yaml), "t.yaml");
  for (const auto& e : r.errors) ADD_FAILURE() << e.str();
  if (!r.config) return config::Config{};
  return std::move(*r.config);
}

constexpr std::string_view kBase = R"(
workers: 2
upstreams:
  - name: web
    servers: [{address: 127.0.0.1:9001, weight: 3}, {address: "[::1]:9002"}]
    keepalive: {max_idle: 8, idle_timeout: 30s}
    timeouts: {connect: 500ms, response: 1m}
  - name: api
    servers: [{address: 127.0.0.1:9100, max_conns: 10}, {address: 127.0.0.1:9101, backup: true}]
    balance: ring_hash
    hash_key: header:X-User
    slow_start: 30s
    sticky: {cookie: srv, ttl: 2h}
listeners:
  - name: public
    listen: 127.0.0.1:8080
    routes:
      - match: {path_prefix: /api, methods: [GET], headers: {X-Env: prod, X-Debug: {present: false}}}
        upstream: api
        request_headers: {set: {X-A: "1"}, remove: [X-C]}
      - respond: {status: 204}
  - name: other
    listen: 127.0.0.1:8081
    routes:
      - upstream: web
timeouts: {client_header: 5s}
)";

TEST(ConfigJson, WritesTheRunningConfigWithFileKeys) {
  const auto j = configJson(load(kBase));
  EXPECT_EQ(j["file"], "t.yaml");
  EXPECT_EQ(j["workers"], 2);
  const auto& web = j["upstreams"][0];
  EXPECT_EQ(web["name"], "web");
  EXPECT_EQ(web["servers"][0]["address"], "127.0.0.1:9001");
  EXPECT_EQ(web["servers"][0]["weight"], 3);
  EXPECT_EQ(web["servers"][1]["address"], "[::1]:9002");
  EXPECT_EQ(web["keepalive"]["max_idle"], 8);
  EXPECT_EQ(web["keepalive"]["idle_timeout"], "30s");
  EXPECT_EQ(web["timeouts"]["connect"], "500ms");
  EXPECT_EQ(web["timeouts"]["response"], "1m");
  EXPECT_EQ(web["balance"], "round_robin");
  EXPECT_EQ(web.count("sticky"), 0u);
  const auto& api = j["upstreams"][1];
  EXPECT_EQ(api["balance"], "ring_hash");
  EXPECT_EQ(api["hash_key"], "header:X-User");
  EXPECT_EQ(api["slow_start"], "30s");
  EXPECT_EQ(api["sticky"]["cookie"], "srv");
  EXPECT_EQ(api["sticky"]["ttl"], "2h");
  EXPECT_EQ(api["servers"][0]["max_conns"], 10);
  EXPECT_EQ(api["servers"][0]["backup"], false);
  EXPECT_EQ(api["servers"][1]["backup"], true);
  const auto& route = j["listeners"][0]["routes"][0];
  EXPECT_EQ(j["listeners"][0]["listen"], "127.0.0.1:8080");
  EXPECT_EQ(route["match"]["path_prefix"], "/api");
  EXPECT_EQ(route["match"]["methods"][0], "GET");
  EXPECT_EQ(route["upstream"], "api");
  EXPECT_EQ(route["request_headers"]["set"][0]["name"], "X-A");
  EXPECT_EQ(route["request_headers"]["remove"][0], "X-C");
  bool exact = false, absent = false;
  for (const auto& h : route["match"]["headers"]) {
    exact = exact || (h["name"] == "X-Env" && h["exact"] == "prod");
    absent = absent || (h["name"] == "X-Debug" && h["present"] == false);
  }
  EXPECT_TRUE(exact && absent);
  EXPECT_EQ(j["listeners"][0]["routes"][1]["respond"]["status"], 204);
  EXPECT_EQ(j["timeouts"]["client_header"], "5s");
  EXPECT_EQ(j["limits"]["max_header_bytes"], 16 * 1024);
  EXPECT_TRUE(j["admin"].is_null());
}

TEST(ConfigJson, NeverShowsTheAdminToken) {
  config::Config c = load(kBase);
  c.admin = config::Admin{
      {"127.0.0.1", 9901, "127.0.0.1:9901"}, "/etc/weir/admin.token", "hunter2-very-secret", {}};
  const auto j = configJson(c);
  const std::string text = j.dump();
  EXPECT_EQ(text.find("hunter2"), std::string::npos);
  EXPECT_EQ(j["admin"]["listen"], "127.0.0.1:9901");
  EXPECT_EQ(j["admin"]["token_file"], "/etc/weir/admin.token");
  EXPECT_EQ(j["admin"]["token_set"], true);
  EXPECT_EQ(j["admin"].count("token"), 0u);
}

TEST(ConfigJson, WritesDurationsInTheLargestExactUnit) {
  EXPECT_EQ(durationText(milliseconds(0)), "0ms");
  EXPECT_EQ(durationText(milliseconds(500)), "500ms");
  EXPECT_EQ(durationText(milliseconds(1'500)), "1500ms");
  EXPECT_EQ(durationText(milliseconds(2'000)), "2s");
  EXPECT_EQ(durationText(milliseconds(90'000)), "90s");
  EXPECT_EQ(durationText(milliseconds(120'000)), "2m");
  EXPECT_EQ(durationText(milliseconds(3'600'000)), "1h");
}

TEST(ConfigChanges, NothingChangesAgainstItself) {
  const config::Config c = load(kBase);
  const auto d = configChanges(c, c);
  for (const char* section : {"listeners", "routes", "upstreams", "servers"})
    for (const char* kind : {"added", "removed", "changed"})
      EXPECT_TRUE(d[section][kind].empty()) << section << "." << kind;
  EXPECT_TRUE(d["settings"]["changed"].empty());
}

TEST(ConfigChanges, ComparesByNameServersByAddressRoutesByIndex) {
  const config::Config before = load(kBase);
  const config::Config after = load(R"(
workers: 2
upstreams:
  - name: web
    servers: [{address: 127.0.0.1:9001, weight: 4}, {address: 127.0.0.1:9003}]
    keepalive: {max_idle: 8, idle_timeout: 30s}
    timeouts: {connect: 500ms, response: 1m}
  - name: search
    servers: [{address: 127.0.0.1:9200}]
listeners:
  - name: public
    listen: 127.0.0.1:8080
    routes:
      - match: {path_prefix: /api, methods: [GET], headers: {X-Env: prod, X-Debug: {present: false}}}
        upstream: search
        request_headers: {set: {X-A: "1"}, remove: [X-C]}
      - respond: {status: 204}
      - respond: {status: 404}
  - name: metrics
    listen: 127.0.0.1:8082
    routes:
      - respond: {status: 200}
timeouts: {client_header: 6s}
)");
  const auto d = configChanges(before, after);
  using J = nlohmann::ordered_json;
  EXPECT_EQ(d["listeners"]["added"], J({"metrics"}));
  EXPECT_EQ(d["listeners"]["removed"], J({"other"}));
  EXPECT_EQ(d["listeners"]["changed"], J({"public"}));
  EXPECT_EQ(d["routes"]["added"], J({"metrics/0", "public/2"}));
  EXPECT_EQ(d["routes"]["removed"], J({"other/0"}));
  EXPECT_EQ(d["routes"]["changed"], J({"public/0"}));
  EXPECT_EQ(d["upstreams"]["added"], J({"search"}));
  EXPECT_EQ(d["upstreams"]["removed"], J({"api"}));
  EXPECT_EQ(d["upstreams"]["changed"], J({"web"}));
  EXPECT_EQ(d["servers"]["added"], J({"search/127.0.0.1:9200", "web/127.0.0.1:9003"}));
  EXPECT_EQ(d["servers"]["removed"],
            J({"api/127.0.0.1:9100", "api/127.0.0.1:9101", "web/[::1]:9002"}));
  EXPECT_EQ(d["servers"]["changed"], J({"web/127.0.0.1:9001"}));
  EXPECT_EQ(d["settings"]["changed"], J({"timeouts"}));
}

TEST(ConfigChanges, IgnoresWhereThingsStandInTheFile) {
  const config::Config before = load(kBase);
  const config::Config after = load(std::string("\n\n# moved down\n") + std::string(kBase));
  const auto d = configChanges(before, after);
  EXPECT_TRUE(d["routes"]["changed"].empty());
  EXPECT_TRUE(d["servers"]["changed"].empty());
}

}  // namespace
}  // namespace weir::admin
