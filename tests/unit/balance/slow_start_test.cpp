#include "balance/slow_start.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "balance/least_conn.h"
#include "balance/p2c.h"
#include "balance/random.h"
#include "balance/round_robin.h"
#include "share_check.h"

namespace weir::balance {
namespace {

TEST(SlowStart, RampsFromATenthToFullWeightOverTheWindow) {
  const uint64_t since = 5000, window = 30'000;
  EXPECT_DOUBLE_EQ(slowStartScale(since, since, window), 0.1);
  EXPECT_DOUBLE_EQ(slowStartScale(since, since + window / 2, window), 0.55);
  EXPECT_DOUBLE_EQ(slowStartScale(since, since + window, window), 1.0);
  EXPECT_DOUBLE_EQ(slowStartScale(since, since + 10 * window, window), 1.0);
  EXPECT_DOUBLE_EQ(slowStartScale(since, since - 1, window), 0.1);  // clock before "since"
  double previous = 0;
  for (uint64_t t = since; t <= since + window; t += 1000) {
    const double s = slowStartScale(since, t, window);
    EXPECT_GT(s, previous);
    EXPECT_NEAR(s, 0.1 + 0.9 * static_cast<double>(t - since) / window, 1e-12);
    previous = s;
  }
}

TEST(SlowStart, NoWindowMeansFullWeightAtOnce) {
  EXPECT_DOUBLE_EQ(slowStartScale(100, 100, 0), 1.0);
  EXPECT_DOUBLE_EQ(slowStartScale(100, 150, 0), 1.0);
}

TEST(SlowStart, ScalesAreClampedToATenthAndOne) {
  EXPECT_DOUBLE_EQ(clampWeightScale(0.0), 0.1);
  EXPECT_DOUBLE_EQ(clampWeightScale(-3), 0.1);
  EXPECT_DOUBLE_EQ(clampWeightScale(7), 1.0);
  EXPECT_DOUBLE_EQ(clampWeightScale(0.3), 0.3);
}

// Endpoint 0 in slow start at half its window: weight scaled by 0.55.
TEST(SlowStart, WeightedPoliciesFollowTheScaledWeight) {
  const std::vector<int> weights{2, 1, 1};
  const double scale = slowStartScale(0, 5000, 10'000);
  const std::vector<double> expected{2 * scale, 1, 1};
  std::vector<std::pair<std::unique_ptr<Balancer>, double>> policies;
  policies.emplace_back(std::make_unique<RoundRobin>(weights), 0.01);
  policies.emplace_back(std::make_unique<LeastConn>(weights), 0.01);
  policies.emplace_back(std::make_unique<Random>(weights, 1), 0.02);
  policies.emplace_back(std::make_unique<P2C>(weights, 1), 0.02);
  for (auto& [balancer, tolerance] : policies) {
    balancer->setWeightScale(0, scale);
    testing::expectSharesMatchWeights(testing::countPicks(*balancer), expected, tolerance);
  }
}

}  // namespace
}  // namespace weir::balance
