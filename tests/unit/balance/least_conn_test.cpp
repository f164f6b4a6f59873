#include "balance/least_conn.h"

#include <gtest/gtest.h>

#include <deque>
#include <vector>

#include "share_check.h"

namespace weir::balance {
namespace {

using testing::countPicks;
using testing::expectSharesMatchWeights;
constexpr std::chrono::microseconds kLatency{500};

TEST(LeastConn, SharesFollowWeightsWhenRequestsFinishInstantly) {
  for (const auto& weights : testing::weightSets()) {
    SCOPED_TRACE(::testing::PrintToString(weights));
    LeastConn lc(weights);
    expectSharesMatchWeights(countPicks(lc), weights, 0.01);
  }
}

TEST(LeastConn, PicksTheEndpointWithFewestInFlightRelativeToWeight) {
  LeastConn lc({1, 1, 2});
  lc.onStart(0);
  lc.onStart(0);
  lc.onStart(1);
  lc.onStart(2);
  lc.onStart(2);
  // loads: 2/1, 1/1, 2/2 -> 1 and 2 tie, 0 is the busiest
  for (int i = 0; i < 10; ++i) EXPECT_NE(*lc.pick({}), 0u);
  lc.onStart(1);  // loads: 2, 2, 1
  EXPECT_EQ(*lc.pick({}), 2u);
}

TEST(LeastConn, KeepsInFlightProportionalToWeightUnderLoad) {
  const std::vector<int> weights{1, 2, 5};
  LeastConn lc(weights);
  std::deque<size_t> outstanding;
  for (int i = 0; i < 80; ++i) {  // build up 80 in flight, none finishing
    size_t picked = *lc.pick({});
    lc.onStart(picked);
    outstanding.push_back(picked);
  }
  EXPECT_EQ(lc.inFlight(0), 10u);
  EXPECT_EQ(lc.inFlight(1), 20u);
  EXPECT_EQ(lc.inFlight(2), 50u);
}

TEST(LeastConn, TiesRotateInsteadOfStickingToTheFirstEndpoint) {
  LeastConn lc({1, 1, 1});
  std::vector<int> hits(3, 0);
  for (int i = 0; i < 3; ++i) ++hits[*lc.pick({})];  // nothing started: always a tie
  EXPECT_EQ(hits, (std::vector<int>{1, 1, 1}));
}

TEST(LeastConn, SendsNothingToAnEndpointAtMaxConns) {
  LeastConn lc({10, 1, 1}, {2, 0, 0});
  lc.onStart(0);
  lc.onStart(0);
  auto hits = countPicks(lc, 10'000);
  EXPECT_EQ(hits[0], 0);
  lc.onFinish(0, kLatency, true, 0);  // one slot free, but 1/10 in flight vs 0/1: not yet
  EXPECT_NE(*lc.pick({}), 0u);
  lc.onFinish(0, kLatency, true, 0);
  hits = countPicks(lc, 12);
  EXPECT_EQ(hits[0], 10);
}

TEST(LeastConn, NeverExceedsMaxConnsUnderRandomLoad) {
  const std::vector<uint32_t> max_conns{3, 5, 0, 1};
  LeastConn lc({5, 3, 1, 2}, max_conns);
  std::deque<size_t> outstanding;
  uint64_t state = 42;
  for (int i = 0; i < 20'000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    if ((state >> 60) < 9 || outstanding.empty()) {  // mostly start, sometimes finish
      auto picked = lc.pick({});
      ASSERT_TRUE(picked.has_value());
      if (max_conns[*picked] != 0) {
        ASSERT_LT(lc.inFlight(*picked), max_conns[*picked]);
      }
      lc.onStart(*picked);
      outstanding.push_back(*picked);
    } else {
      lc.onFinish(outstanding.front(), kLatency, true, 0);
      outstanding.pop_front();
    }
  }
}

TEST(LeastConn, ReturnsNothingWhenEveryEndpointIsFull) {
  LeastConn lc({1, 1}, {1, 1});
  lc.onStart(0);
  lc.onStart(1);
  EXPECT_EQ(lc.pick({}), std::nullopt);
}

TEST(LeastConn, NeverPicksExcludedAndReturnsNothingWhenAllAre) {
  LeastConn lc({1, 2, 3});
  EndpointSet excluded;
  excluded.set(2);
  auto hits = countPicks(lc, 3000, &excluded);
  EXPECT_EQ(hits[2], 0);
  EXPECT_EQ(hits[0], 1000);
  excluded.set(0);
  excluded.set(1);
  EXPECT_EQ(lc.pick({.excluded = &excluded}), std::nullopt);
}

TEST(LeastConn, WeightScaleShiftsTheShare) {
  LeastConn lc({1, 1});
  lc.setWeightScale(0, 0.5);
  expectSharesMatchWeights(countPicks(lc), std::vector<double>{0.5, 1.0}, 0.01);
}

TEST(LeastConn, ReturnsNothingWithoutEndpoints) {
  LeastConn lc({});
  EXPECT_EQ(lc.pick({}), std::nullopt);
}

}  // namespace
}  // namespace weir::balance
