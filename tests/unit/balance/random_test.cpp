#include "balance/random.h"

#include <gtest/gtest.h>

#include <vector>

#include "share_check.h"

namespace weir::balance {
namespace {

using testing::countPicks;
using testing::expectSharesMatchWeights;

TEST(Random, SharesFollowWeights) {
  // Shares of at least 1/7: 100,000 picks keep the sampling noise well under 2%.
  for (const auto& weights : {std::vector<int>{3, 1}, std::vector<int>{5, 1, 1},
                              std::vector<int>{1, 1, 1, 1}, std::vector<int>{1, 2, 3}}) {
    SCOPED_TRACE(::testing::PrintToString(weights));
    Random random(weights, 7);
    expectSharesMatchWeights(countPicks(random), weights, 0.02);
  }
}

TEST(Random, VeryUnevenWeightsStillFollowWeights) {
  const std::vector<int> weights{1000, 1, 7, 250};
  Random random(weights, 11);
  auto hits = countPicks(random, 1'000'000);
  expectSharesMatchWeights({hits[0], hits[3]}, std::vector<int>{1000, 250}, 0.02);
  expectSharesMatchWeights(hits, weights, 0.2);  // 1,000 hits on the lightest: noisier
}

TEST(Random, SameSeedSameSequenceDifferentSeedDifferentSequence) {
  Random a({1, 1, 1, 1, 1, 1, 1, 1}, 1), b({1, 1, 1, 1, 1, 1, 1, 1}, 1),
      c({1, 1, 1, 1, 1, 1, 1, 1}, 2);
  std::vector<size_t> sa, sb, sc;
  for (int i = 0; i < 32; ++i) {
    sa.push_back(*a.pick({}));
    sb.push_back(*b.pick({}));
    sc.push_back(*c.pick({}));
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

TEST(Random, RemainingEndpointsKeepTheirProportionWhenOthersAreExcluded) {
  Random random({3, 5, 1, 2}, 3);
  EndpointSet excluded;
  excluded.set(1);
  auto hits = countPicks(random, testing::kPicks, &excluded);
  EXPECT_EQ(hits[1], 0);
  expectSharesMatchWeights({hits[0], hits[2], hits[3]}, std::vector<int>{3, 1, 2}, 0.02);
}

TEST(Random, FindsTheOnlyEligibleEndpointAmongHeavyExcludedOnes) {
  Random random({1000, 1000, 1, 1000}, 5);
  EndpointSet excluded;
  excluded.set(0);
  excluded.set(1);
  excluded.set(3);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(random.pick({.excluded = &excluded}), 2u);
  excluded.set(2);
  EXPECT_EQ(random.pick({.excluded = &excluded}), std::nullopt);
}

TEST(Random, WeightScaleShiftsTheShare) {
  Random random({1, 1}, 9);
  random.setWeightScale(0, 0.25);
  expectSharesMatchWeights(countPicks(random), std::vector<double>{0.25, 1.0}, 0.02);
  random.setWeightScale(0, 1.0);
  expectSharesMatchWeights(countPicks(random), std::vector<int>{1, 1}, 0.02);
}

TEST(Random, ReturnsNothingWithoutEndpoints) {
  Random random({}, 1);
  EXPECT_EQ(random.pick({}), std::nullopt);
}

}  // namespace
}  // namespace weir::balance
