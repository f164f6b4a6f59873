#include "balance/ewma.h"

#include <gtest/gtest.h>

#include <cmath>
#include <queue>
#include <vector>

#include "share_check.h"

namespace weir::balance {
namespace {

using std::chrono::microseconds;

// Runs `requests` requests with `concurrency` in flight against endpoints answering after
// latency_ms[i], on a simulated clock. Returns the picks made after the first `warmup`.
std::vector<int> simulate(Ewma& ewma, const std::vector<uint64_t>& latency_ms, int requests,
                          size_t concurrency, int warmup) {
  struct Done {
    uint64_t at_ms;
    size_t endpoint;
    bool operator>(const Done& o) const { return at_ms > o.at_ms; }
  };
  std::priority_queue<Done, std::vector<Done>, std::greater<>> in_flight;
  std::vector<int> hits(latency_ms.size(), 0);
  uint64_t now = 1'000'000;
  for (int r = 0; r < requests; ++r) {
    while (in_flight.size() >= concurrency) {
      Done d = in_flight.top();
      in_flight.pop();
      now = std::max(now, d.at_ms);
      ewma.onFinish(d.endpoint, microseconds(latency_ms[d.endpoint] * 1000), true, now);
    }
    auto picked = ewma.pick({.now_ms = now});
    EXPECT_TRUE(picked.has_value());
    if (!picked) break;
    if (r >= warmup) ++hits[*picked];
    ewma.onStart(*picked);
    in_flight.push({now + latency_ms[*picked], *picked});
  }
  return hits;
}

TEST(Ewma, ShiftsTrafficAwayFromAnEndpointTenTimesSlower) {
  Ewma ewma({1, 1, 1, 1}, 21);
  auto hits = simulate(ewma, {20, 2, 2, 2}, 50'000, 8, 1000);
  const double total = hits[0] + hits[1] + hits[2] + hits[3];
  EXPECT_LT(hits[0] / total, 0.20) << "slow endpoint share " << hits[0] / total;
  for (size_t i = 1; i < 4; ++i) EXPECT_GT(hits[i] / total, 0.25);
}

TEST(Ewma, ShiftsTrafficAwayEvenBetweenTwoEndpoints) {
  Ewma ewma({1, 1}, 22);
  auto hits = simulate(ewma, {2, 20}, 20'000, 4, 500);
  EXPECT_LT(hits[1], (hits[0] + hits[1]) / 5);
}

TEST(Ewma, EqualLatenciesKeepTheWeightShares) {
  const std::vector<int> weights{1, 2, 3};
  Ewma ewma(weights, 23);
  // Requests finish before the next pick, all alike: costs stay equal, draws follow weights.
  testing::expectSharesMatchWeights(testing::countPicks(ewma), weights, 0.02);
}

TEST(Ewma, PeakReplacesTheEstimateAtOnceAndDecaysWithTheTimeConstant) {
  Ewma ewma({1}, 1, {}, std::chrono::milliseconds(10'000));
  ewma.onStart(0);
  ewma.onFinish(0, microseconds(1000), true, 0);
  EXPECT_DOUBLE_EQ(ewma.estimateMicros(0, 0), 1000);
  ewma.onStart(0);
  ewma.onFinish(0, microseconds(50'000), true, 0);  // slower: replaces at once
  EXPECT_DOUBLE_EQ(ewma.estimateMicros(0, 0), 50'000);
  ewma.onStart(0);
  ewma.onFinish(0, microseconds(1000), true, 10'000);  // faster: one time constant later
  EXPECT_NEAR(ewma.estimateMicros(0, 10'000), 50'000 * std::exp(-1.0) + 1000 * (1 - std::exp(-1.0)),
              1e-6);
  // No responses for another time constant: the estimate decays toward zero.
  const double before = ewma.estimateMicros(0, 10'000);
  EXPECT_NEAR(ewma.estimateMicros(0, 20'000), before * std::exp(-1.0), 1e-6);
}

TEST(Ewma, FailuresNeverLowerTheEstimate) {
  Ewma ewma({1}, 1);
  ewma.onStart(0);
  ewma.onFinish(0, microseconds(8000), true, 0);
  ewma.onStart(0);
  ewma.onFinish(0, microseconds(100), false, 20'000);
  EXPECT_DOUBLE_EQ(ewma.estimateMicros(0, 20'000), 8000);
}

TEST(Ewma, NewEndpointScoresTheNeutralAverageSoItGetsTried) {
  Ewma ewma({1, 1, 1}, 4);
  for (size_t i : {0u, 1u}) {
    ewma.onStart(i);
    ewma.onFinish(i, microseconds(3000), true, 0);
  }
  EXPECT_DOUBLE_EQ(ewma.estimateMicros(2, 0), 3000);
  int new_hits = 0;
  for (int i = 0; i < 3000; ++i) {
    size_t picked = *ewma.pick({.now_ms = 0});
    new_hits += picked == 2;
    ewma.onStart(picked);
    ewma.onFinish(picked, microseconds(3000), true, 0);
  }
  EXPECT_GT(new_hits, 700);  // about a third
}

TEST(Ewma, PrefersAnIdleEndpointOverABusyOne) {
  Ewma ewma({1, 1}, 5);
  for (size_t i : {0u, 1u}) {
    ewma.onStart(i);
    ewma.onFinish(i, microseconds(1000), true, 0);
  }
  for (int i = 0; i < 3; ++i) ewma.onStart(0);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(*ewma.pick({.now_ms = 0}), 1u);
}

TEST(Ewma, HonoursMaxConnsAndExclusions) {
  Ewma ewma({5, 1, 1}, 6, {1, 0, 0});
  ewma.onStart(0);
  EndpointSet excluded;
  excluded.set(1);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(*ewma.pick({.excluded = &excluded}), 2u);
  excluded.set(2);
  EXPECT_EQ(ewma.pick({.excluded = &excluded}), std::nullopt);
}

}  // namespace
}  // namespace weir::balance
