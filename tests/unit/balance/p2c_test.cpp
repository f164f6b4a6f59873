#include "balance/p2c.h"

#include <gtest/gtest.h>

#include <deque>
#include <vector>

#include "share_check.h"

namespace weir::balance {
namespace {

using testing::countPicks;
using testing::expectSharesMatchWeights;
constexpr std::chrono::microseconds kLatency{500};

TEST(P2C, SharesFollowWeightsWhenRequestsFinishInstantly) {
  for (const auto& weights : {std::vector<int>{3, 1}, std::vector<int>{5, 1, 1},
                              std::vector<int>{1, 1, 1, 1}, std::vector<int>{1, 2, 3}}) {
    SCOPED_TRACE(::testing::PrintToString(weights));
    P2C p2c(weights, 17);
    expectSharesMatchWeights(countPicks(p2c), weights, 0.02);
  }
}

TEST(P2C, PrefersTheLessLoadedOfTwoCandidates) {
  P2C p2c({1, 1}, 3);
  for (int i = 0; i < 5; ++i) p2c.onStart(0);
  // Candidates are distinct when possible, so the idle endpoint always wins.
  for (int i = 0; i < 100; ++i) EXPECT_EQ(*p2c.pick({}), 1u);
}

TEST(P2C, SpreadsInFlightEvenlyUnderLoad) {
  const size_t n = 10;
  P2C p2c(std::vector<int>(n, 1), 5);
  for (int i = 0; i < 1000; ++i) p2c.onStart(*p2c.pick({}));
  uint32_t lo = UINT32_MAX, hi = 0;
  for (size_t i = 0; i < n; ++i) {
    lo = std::min(lo, p2c.inFlight(i));
    hi = std::max(hi, p2c.inFlight(i));
  }
  EXPECT_LE(hi - lo, 10u) << "in flight ranges from " << lo << " to " << hi;
}

TEST(P2C, SendsNothingToAnEndpointAtMaxConns) {
  P2C p2c({10, 1, 1}, 1, {2, 0, 0});
  p2c.onStart(0);
  p2c.onStart(0);
  auto hits = countPicks(p2c, 10'000);
  EXPECT_EQ(hits[0], 0);
}

TEST(P2C, NeverExceedsMaxConnsUnderRandomLoad) {
  const std::vector<uint32_t> max_conns{3, 5, 0, 1};
  P2C p2c({5, 3, 1, 2}, 8, max_conns);
  std::deque<size_t> outstanding;
  uint64_t state = 42;
  for (int i = 0; i < 20'000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    if ((state >> 60) < 9 || outstanding.empty()) {
      auto picked = p2c.pick({});
      ASSERT_TRUE(picked.has_value());
      if (max_conns[*picked] != 0) {
        ASSERT_LT(p2c.inFlight(*picked), max_conns[*picked]);
      }
      p2c.onStart(*picked);
      outstanding.push_back(*picked);
    } else {
      p2c.onFinish(outstanding.front(), kLatency, true, 0);
      outstanding.pop_front();
    }
  }
}

TEST(P2C, ReturnsNothingWhenEveryEndpointIsFullOrExcluded) {
  P2C p2c({1, 1, 1}, 2, {1, 1, 0});
  p2c.onStart(0);
  p2c.onStart(1);
  EndpointSet excluded;
  excluded.set(2);
  EXPECT_EQ(p2c.pick({.excluded = &excluded}), std::nullopt);
  excluded.reset(2);
  EXPECT_EQ(p2c.pick({.excluded = &excluded}), 2u);
}

TEST(P2C, NeverPicksExcluded) {
  P2C p2c({1, 2, 3, 4}, 4);
  EndpointSet excluded;
  excluded.set(3);
  excluded.set(0);
  auto hits = countPicks(p2c, 10'000, &excluded);
  EXPECT_EQ(hits[0] + hits[3], 0);
}

TEST(P2C, WeightScaleShiftsTheShare) {
  P2C p2c({1, 1}, 12);
  p2c.setWeightScale(1, 0.5);
  expectSharesMatchWeights(countPicks(p2c), std::vector<double>{1.0, 0.5}, 0.02);
}

}  // namespace
}  // namespace weir::balance
