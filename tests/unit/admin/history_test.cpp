// The dashboard's history: the ring keeps the newest 900 samples in order; samples carry the
// per-second change of the merged workers' counters (with restarts handled), gauges, the
// latency quantiles of the second alone, and each server's combined state.
#include "admin/history.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace weir::admin {
namespace {

using server::ListenerReport;
using server::ServerReport;
using server::StatsReport;
using server::UpstreamReport;

Sample sampleAt(uint64_t t) {
  Sample s;
  s.at_unix_ms = t;
  return s;
}

ServerReport serverOf(std::string address, uint64_t requests, uint64_t errors,
                      std::initializer_list<uint64_t> latencies_us = {}) {
  ServerReport s;
  s.address = std::move(address);
  s.state = "enabled";
  s.traffic.requests = requests;
  s.traffic.responses[2] = requests - errors;
  s.traffic.responses[5] = errors;
  for (uint64_t us : latencies_us) s.latency.observe(us);
  return s;
}

// One worker's report: `requests` in total, each `latency_us` long, on server a or b.
StatsReport workerReport(uint64_t a_requests, uint64_t b_requests, uint64_t open,
                         uint64_t latency_us) {
  StatsReport r;
  r.totals.connections_open = open;
  r.totals.connections_accepted = a_requests + b_requests;
  r.totals.traffic.requests = a_requests + b_requests;
  r.totals.traffic.responses[2] = a_requests + b_requests;
  r.totals.traffic.bytes_in = 100 * (a_requests + b_requests);
  r.totals.traffic.bytes_out = 1000 * (a_requests + b_requests);
  for (uint64_t i = 0; i < a_requests + b_requests; ++i) r.totals.latency.observe(latency_us);
  ListenerReport l;
  l.name = "public";
  l.routes.resize(2);
  l.routes[0].requests = a_requests;
  l.routes[1].requests = b_requests;
  r.listeners.push_back(l);
  UpstreamReport u;
  u.name = "web";
  ServerReport a = serverOf("127.0.0.1:9001", a_requests, 0);
  ServerReport b = serverOf("127.0.0.1:9002", b_requests, 0);
  for (uint64_t i = 0; i < a_requests; ++i) a.latency.observe(latency_us);
  for (uint64_t i = 0; i < b_requests; ++i) b.latency.observe(latency_us);
  u.servers = {a, b};
  r.upstreams.push_back(u);
  return r;
}

// `n` more requests of `latency_us` each, on server `index` (0: a, 1: b) and its route.
void addRequests(StatsReport& r, size_t index, uint64_t n, uint64_t latency_us) {
  r.totals.traffic.requests += n;
  r.totals.traffic.responses[2] += n;
  r.listeners[0].routes[index].requests += n;
  ServerReport& s = r.upstreams[0].servers[index];
  s.traffic.requests += n;
  s.traffic.responses[2] += n;
  for (uint64_t i = 0; i < n; ++i) {
    r.totals.latency.observe(latency_us);
    s.latency.observe(latency_us);
  }
}

std::string healthy(const std::string&, const std::string&) { return "healthy"; }

// ---------------------------------------------------------------------------------------------
// HistoryRing

TEST(HistoryRing, KeepsSamplesOldestFirstUntilFull) {
  HistoryRing ring(4);
  for (uint64_t t = 1; t <= 3; ++t) ring.push(sampleAt(t));
  ASSERT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring.at(0).at_unix_ms, 1u);
  EXPECT_EQ(ring.at(2).at_unix_ms, 3u);
  EXPECT_EQ(ring.newest()->at_unix_ms, 3u);
}

TEST(HistoryRing, HoldsFifteenMinutesByDefault) {
  HistoryRing ring;
  EXPECT_EQ(ring.capacity(), 900u);
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_EQ(ring.newest(), nullptr);
}

TEST(HistoryRing, WrapsAroundAt900DroppingTheOldest) {
  HistoryRing ring;
  for (uint64_t t = 1; t <= 900; ++t) ring.push(sampleAt(t));
  ASSERT_EQ(ring.size(), 900u);
  EXPECT_EQ(ring.at(0).at_unix_ms, 1u);
  EXPECT_EQ(ring.at(899).at_unix_ms, 900u);

  ring.push(sampleAt(901));
  ASSERT_EQ(ring.size(), 900u);
  EXPECT_EQ(ring.at(0).at_unix_ms, 2u);
  EXPECT_EQ(ring.at(899).at_unix_ms, 901u);

  // Two and a half more turns: still the newest 900, in order.
  for (uint64_t t = 902; t <= 3150; ++t) ring.push(sampleAt(t));
  ASSERT_EQ(ring.size(), 900u);
  for (size_t i = 0; i < ring.size(); ++i) ASSERT_EQ(ring.at(i).at_unix_ms, 2251u + i) << i;
  EXPECT_EQ(ring.newest()->at_unix_ms, 3150u);
}

TEST(HistoryRing, ClearEmptiesIt) {
  HistoryRing ring(3);
  for (uint64_t t = 1; t <= 5; ++t) ring.push(sampleAt(t));
  ring.clear();
  EXPECT_EQ(ring.size(), 0u);
  ring.push(sampleAt(9));
  EXPECT_EQ(ring.at(0).at_unix_ms, 9u);
}

// ---------------------------------------------------------------------------------------------
// Deltas

TEST(SampleBuilder, FirstReportIsOnlyTheBaseline) {
  SampleBuilder builder;
  Sample s;
  EXPECT_FALSE(builder.next(workerReport(5, 5, 1, 1'000), 1'000, 1, nullptr, healthy, s));
  EXPECT_TRUE(builder.next(workerReport(5, 5, 1, 1'000), 2'000, 1, nullptr, healthy, s));
  EXPECT_EQ(s.at_unix_ms, 2'000u);
  EXPECT_EQ(s.delta.requests, 0u);
  EXPECT_EQ(s.p99_ms, 0.0);  // nothing ended in that second
}

TEST(SampleBuilder, ComputesPerSecondChangesAndKeepsTotalsAndGauges) {
  SampleBuilder builder;
  Sample s;
  builder.next(workerReport(10, 4, 2, 1'000), 1'000, 3, nullptr, healthy, s);
  ASSERT_TRUE(builder.next(workerReport(17, 9, 5, 1'000), 2'000, 3, nullptr, healthy, s));
  EXPECT_EQ(s.generation, 3u);
  EXPECT_EQ(s.delta.requests, 12u);
  EXPECT_EQ(s.delta.responses[2], 12u);
  EXPECT_EQ(s.delta.bytes_in, 1'200u);
  EXPECT_EQ(s.delta.bytes_out, 12'000u);
  EXPECT_EQ(s.totals.requests, 26u);
  EXPECT_EQ(s.connections_open, 5u);  // a gauge: as reported
  ASSERT_EQ(s.servers.size(), 2u);
  EXPECT_EQ(s.servers[0].requests, 7u);
  EXPECT_EQ(s.servers[0].requests_total, 17u);
  EXPECT_EQ(s.servers[1].requests, 5u);
  ASSERT_EQ(s.routes.size(), 2u);
  EXPECT_EQ(s.routes[0].requests, 7u);
  EXPECT_EQ(s.routes[1].requests, 5u);
  ASSERT_TRUE(s.layout);
  ASSERT_EQ(s.layout->upstreams.size(), 1u);
  EXPECT_EQ(s.layout->upstreams[0].servers[1], "127.0.0.1:9002");
  EXPECT_EQ(s.layout->routes[1].listener, "public");
}

TEST(SampleBuilder, LatencyQuantilesCoverOnlyTheLastSecond) {
  // 100 slow requests before, 100 fast ones in the second sampled: p99 must be fast.
  SampleBuilder builder;
  Sample s;
  builder.next(workerReport(100, 0, 0, 2'000'000), 1'000, 1, nullptr, healthy, s);
  StatsReport now = workerReport(100, 0, 0, 2'000'000);
  addRequests(now, 0, 100, 800);
  ASSERT_TRUE(builder.next(now, 2'000, 1, nullptr, healthy, s));
  EXPECT_GT(s.p99_ms, 0.5);
  EXPECT_LE(s.p99_ms, 1.0);  // the 500..1000 us bucket
  EXPECT_LE(s.p50_ms, 1.0);
  EXPECT_LE(s.servers[0].p99_ms, 1.0f);
  EXPECT_EQ(s.servers[0].requests, 100u);

  // Cumulatively the p99 would be in the slow bucket.
  EXPECT_GT(now.totals.latency.quantileUs(0.99), 1'000'000);
}

TEST(SampleBuilder, CounterThatWentDownRestartedFromZero) {
  // A reload gives fresh route counters: the new value is the change.
  SampleBuilder builder;
  Sample s;
  builder.next(workerReport(50, 50, 0, 1'000), 1'000, 1, nullptr, healthy, s);
  ASSERT_TRUE(builder.next(workerReport(3, 2, 0, 1'000), 2'000, 2, nullptr, healthy, s));
  EXPECT_EQ(s.routes[0].requests, 3u);
  EXPECT_EQ(s.routes[1].requests, 2u);
  EXPECT_EQ(s.delta.requests, 5u);
  EXPECT_GT(s.p50_ms, 0.0);  // the restarted histogram counts as this second's
}

TEST(SampleBuilder, NewServerStartsFromZero) {
  SampleBuilder builder;
  Sample s;
  builder.next(workerReport(10, 10, 0, 1'000), 1'000, 1, nullptr, healthy, s);
  StatsReport now = workerReport(12, 10, 0, 1'000);
  now.upstreams[0].servers.push_back(serverOf("127.0.0.1:9003", 4, 1, {1'000, 1'000}));
  ASSERT_TRUE(builder.next(now, 2'000, 2, nullptr, healthy, s));
  ASSERT_EQ(s.servers.size(), 3u);
  EXPECT_EQ(s.servers[2].requests, 4u);
  EXPECT_EQ(s.servers[2].errors, 1u);
  EXPECT_EQ(s.layout->upstreams[0].servers.size(), 3u);
}

TEST(SampleBuilder, UnchangedLayoutIsSharedBetweenSamples) {
  SampleBuilder builder;
  Sample a, b;
  builder.next(workerReport(1, 1, 0, 1'000), 1'000, 1, nullptr, healthy, a);
  builder.next(workerReport(2, 2, 0, 1'000), 2'000, 1, nullptr, healthy, a);
  builder.next(workerReport(3, 3, 0, 1'000), 3'000, 1, nullptr, healthy, b);
  EXPECT_EQ(a.layout.get(), b.layout.get());
}

TEST(SampleBuilder, MergesPerWorkerReportsIntoOneSample) {
  // Two workers report separately; the control thread merges them, then samples.
  auto merged = [](const StatsReport& w1, const StatsReport& w2) {
    StatsReport r;
    r.merge(w1);
    r.merge(w2);
    return r;
  };
  SampleBuilder builder;
  Sample s;
  builder.next(merged(workerReport(10, 0, 1, 1'000), workerReport(0, 20, 2, 1'000)), 1'000, 1,
               nullptr, healthy, s);
  StatsReport w2 = workerReport(0, 20, 4, 1'000);
  addRequests(w2, 0, 1, 30'000);
  addRequests(w2, 1, 6, 30'000);
  ASSERT_TRUE(
      builder.next(merged(workerReport(15, 0, 3, 1'000), w2), 2'000, 1, nullptr, healthy, s));
  EXPECT_EQ(s.delta.requests, 12u);  // (15 + 27) - (10 + 20)
  EXPECT_EQ(s.connections_open, 7u);
  ASSERT_EQ(s.servers.size(), 2u);  // by address, not once per worker
  EXPECT_EQ(s.servers[0].requests, 6u);
  EXPECT_EQ(s.servers[1].requests, 6u);
  ASSERT_EQ(s.routes.size(), 2u);  // by listener name and route index
  EXPECT_EQ(s.routes[0].requests, 6u);
  EXPECT_EQ(s.routes[1].requests, 6u);
  // The second's latencies: 5 at 1 ms from worker 1, 1 + 6 at 30 ms from worker 2.
  EXPECT_LE(s.p50_ms, 50.0);
  EXPECT_GT(s.p50_ms, 10.0);
  EXPECT_GT(s.p99_ms, 25.0);
}

TEST(SampleBuilder, ServerStateCombinesAdminStateAndHealth) {
  SampleBuilder builder;
  Sample s;
  StatsReport r = workerReport(1, 1, 0, 1'000);
  builder.next(r, 1'000, 1, nullptr, healthy, s);
  r.upstreams[0].servers[1].state = "draining";
  auto health = [](const std::string&, const std::string& address) -> std::string {
    return address == "127.0.0.1:9001" ? "unhealthy" : "healthy";
  };
  ASSERT_TRUE(builder.next(r, 2'000, 1, nullptr, health, s));
  EXPECT_EQ(s.servers[0].state, ServerState::Unhealthy);
  EXPECT_EQ(s.servers[1].state, ServerState::Draining);
}

TEST(ServerState, AdminStateWinsOverHealth) {
  EXPECT_EQ(combineState("disabled", "healthy"), ServerState::Disabled);
  EXPECT_EQ(combineState("draining", "unhealthy"), ServerState::Draining);
  EXPECT_EQ(combineState("enabled", "ejected"), ServerState::Ejected);
  EXPECT_EQ(combineState("enabled", "unhealthy"), ServerState::Unhealthy);
  EXPECT_EQ(combineState("enabled", "healthy"), ServerState::Healthy);
  EXPECT_EQ(combineState("enabled", "unknown"), ServerState::Unknown);
  EXPECT_EQ(serverStateName(ServerState::Ejected), "ejected");
}

TEST(BucketQuantile, MatchesLatencyHistogram) {
  LatencyHistogram h;
  for (uint64_t us : {100, 700, 3'000, 3'000, 40'000, 2'000'000, 90'000'000}) h.observe(us);
  std::array<uint64_t, LatencyHistogram::kBuckets> counts{};
  for (size_t i = 0; i < counts.size(); ++i) counts[i] = h.bucket(i);
  for (double q : {0.0, 0.1, 0.5, 0.9, 0.99, 1.0})
    EXPECT_DOUBLE_EQ(bucketQuantileUs(counts, q), h.quantileUs(q)) << q;
  EXPECT_EQ(bucketQuantileUs({}, 0.5), 0.0);
}

// ---------------------------------------------------------------------------------------------
// Labels and JSON

TEST(RouteLabel, NamesConditionsThenAction) {
  config::Route r;
  r.match.path_prefix = "/api/";
  r.match.methods = {"GET", "POST"};
  r.upstream = "api";
  EXPECT_EQ(routeLabel(r), "methods GET,POST path_prefix /api/ -> api");
  config::Route any;
  any.respond = config::Respond{204, "", {}};
  EXPECT_EQ(routeLabel(any), "any -> respond 204");
}

TEST(SampleJson, NamesEveryEntryFromTheLayout) {
  SampleBuilder builder;
  Sample s;
  config::Config cfg;
  config::Listener l;
  l.name = "public";
  config::Route r0;
  r0.match.path = "/ping";
  r0.respond = config::Respond{};
  config::Route r1;
  r1.upstream = "web";
  l.routes = {r0, r1};
  cfg.listeners.push_back(l);
  builder.next(workerReport(1, 1, 0, 1'000), 1'000, 1, &cfg, healthy, s);
  StatsReport now = workerReport(3, 2, 1, 1'000);
  now.upstreams[0].servers[1].traffic.responses[5] = 1;
  ASSERT_TRUE(builder.next(now, 2'000, 7, &cfg, healthy, s));
  const auto j = sampleJson(s);
  EXPECT_EQ(j["t"], 2'000);
  EXPECT_EQ(j["generation"], 7);
  EXPECT_EQ(j["requests"], 3);
  EXPECT_EQ(j["responses"]["2xx"], 3);
  EXPECT_EQ(j["connections_open"], 1);
  EXPECT_EQ(j["totals"]["requests"], 5);
  EXPECT_TRUE(j["latency_ms"].contains("p99"));
  const auto& server = j["upstreams"][0]["servers"][1];
  EXPECT_EQ(j["upstreams"][0]["name"], "web");
  EXPECT_EQ(server["address"], "127.0.0.1:9002");
  EXPECT_EQ(server["state"], "healthy");
  EXPECT_EQ(server["admin"], "enabled");
  EXPECT_EQ(server["requests"], 1);
  EXPECT_EQ(server["errors"], 1);
  EXPECT_EQ(j["routes"][0]["label"], "path /ping -> respond 200");
  EXPECT_EQ(j["routes"][1]["label"], "any -> web");
  EXPECT_EQ(j["routes"][1]["requests"], 1);
  // One line: fit for an event-stream `data:` field.
  EXPECT_EQ(j.dump().find('\n'), std::string::npos);
}

}  // namespace
}  // namespace weir::admin
