#include "balance/round_robin.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

namespace weir::balance {
namespace {

constexpr int kPicks = 100'000;

// Picks kPicks times and returns how often each endpoint was picked.
std::vector<int> countPicks(RoundRobin& rr, const EndpointSet* excluded = nullptr) {
  std::vector<int> hits(rr.size(), 0);
  for (int i = 0; i < kPicks; ++i) {
    auto picked = rr.pick({.excluded = excluded});
    EXPECT_TRUE(picked.has_value());
    if (!picked) break;
    ++hits[*picked];
  }
  return hits;
}

// Each endpoint's share of `hits` is within 1% (relative) of its share of `weights`.
void expectSharesMatchWeights(const std::vector<int>& hits, const std::vector<int>& weights) {
  const double total_hits = std::accumulate(hits.begin(), hits.end(), 0.0);
  const double total_weight = std::accumulate(weights.begin(), weights.end(), 0.0);
  for (size_t i = 0; i < weights.size(); ++i) {
    const double expected = weights[i] / total_weight;
    const double observed = hits[i] / total_hits;
    EXPECT_LE(std::abs(observed - expected), 0.01 * expected)
        << "endpoint " << i << ": observed share " << observed << ", expected " << expected;
  }
}

TEST(RoundRobin, SharesFollowWeights) {
  for (const std::vector<int>& weights :
       {std::vector<int>{3, 1}, std::vector<int>{5, 1, 1}, std::vector<int>{1, 1, 1, 1},
        std::vector<int>{1000, 1, 7, 250}}) {
    SCOPED_TRACE(::testing::PrintToString(weights));
    RoundRobin rr(weights);
    expectSharesMatchWeights(countPicks(rr), weights);
  }
}

TEST(RoundRobin, SpreadsPicksSmoothlyLikeNginx) {
  RoundRobin rr({5, 1, 1});
  std::string sequence;
  for (int i = 0; i < 14; ++i) sequence += static_cast<char>('a' + *rr.pick({}));
  EXPECT_EQ(sequence, "aabacaaaabacaa");
}

TEST(RoundRobin, PicksEachEndpointExactlyItsWeightPerPeriod) {
  const std::vector<int> weights{4, 3, 2, 1};
  RoundRobin rr(weights);
  for (int period = 0; period < 3; ++period) {
    std::vector<int> hits(weights.size(), 0);
    for (int i = 0; i < 10; ++i) ++hits[*rr.pick({})];
    EXPECT_EQ(hits, weights);
  }
}

TEST(RoundRobin, NeverPicksExcludedEndpoints) {
  RoundRobin rr({5, 1, 1, 3});
  EndpointSet excluded;
  excluded.set(0);
  excluded.set(3);
  for (int i = 0; i < 1000; ++i) {
    auto picked = rr.pick({.excluded = &excluded});
    ASSERT_TRUE(picked.has_value());
    EXPECT_FALSE(excluded.test(*picked)) << "picked excluded endpoint " << *picked;
  }
}

TEST(RoundRobin, RemainingEndpointsKeepTheirProportionWhenOthersAreExcluded) {
  RoundRobin rr({3, 5, 1, 2});
  EndpointSet excluded;
  excluded.set(1);
  std::vector<int> hits = countPicks(rr, &excluded);
  EXPECT_EQ(hits[1], 0);
  hits.erase(hits.begin() + 1);
  expectSharesMatchWeights(hits, {3, 1, 2});
}

TEST(RoundRobin, RecoversProportionsAfterExclusionIsLifted) {
  RoundRobin rr({3, 1});
  EndpointSet excluded;
  excluded.set(0);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(rr.pick({.excluded = &excluded}), 1u);
  expectSharesMatchWeights(countPicks(rr), {3, 1});
}

TEST(RoundRobin, ReturnsNothingWhenEveryEndpointIsExcluded) {
  RoundRobin rr({2, 1, 1});
  EndpointSet excluded;
  for (size_t i = 0; i < 3; ++i) excluded.set(i);
  EXPECT_EQ(rr.pick({.excluded = &excluded}), std::nullopt);
  excluded.reset(2);
  EXPECT_EQ(rr.pick({.excluded = &excluded}), 2u);
}

TEST(RoundRobin, ReturnsNothingWithoutEndpoints) {
  RoundRobin rr({});
  EXPECT_EQ(rr.size(), 0u);
  EXPECT_EQ(rr.pick({}), std::nullopt);
}

TEST(RoundRobin, DifferentStartOffsetsGiveDifferentFirstPicks) {
  std::vector<size_t> first;
  for (uint64_t offset = 0; offset < 4; ++offset) {
    RoundRobin rr({1, 1, 1, 1}, offset);
    first.push_back(*rr.pick({}));
  }
  EXPECT_EQ(first, (std::vector<size_t>{0, 1, 2, 3}));
}

TEST(RoundRobin, StartOffsetAdvancesTheSameSequence) {
  RoundRobin reference({5, 1, 1});
  std::vector<size_t> sequence;
  for (int i = 0; i < 21; ++i) sequence.push_back(*reference.pick({}));
  for (uint64_t offset : {1u, 3u, 6u, 7u, 9u}) {
    RoundRobin rr({5, 1, 1}, offset);
    for (int i = 0; i < 7; ++i)
      EXPECT_EQ(*rr.pick({}), sequence[(offset % 7) + i]) << "offset " << offset << " pick " << i;
  }
}

TEST(RoundRobin, WeightScaleShiftsTheShareAndRestores) {
  RoundRobin rr({2, 1, 1});
  rr.setWeightScale(0, 0.25);  // weight 2 -> 0.5
  std::vector<int> hits = countPicks(rr);
  const double total = hits[0] + hits[1] + hits[2];
  EXPECT_NEAR(hits[0] / total, 0.5 / 2.5, 0.002);
  rr.setWeightScale(0, 1.0);
  expectSharesMatchWeights(countPicks(rr), {2, 1, 1});
}

TEST(RoundRobin, WeightScaleIsClampedToATenth) {
  RoundRobin rr({1, 1});
  rr.setWeightScale(1, 0.0);
  std::vector<int> hits = countPicks(rr);
  EXPECT_NEAR(hits[1] / double(kPicks), 0.1 / 1.1, 0.002);
}

TEST(EndpointSet, SetTestResetCountAndClear) {
  EndpointSet set;
  EXPECT_FALSE(set.test(0));
  EXPECT_FALSE(set.test(1000));
  set.set(3);
  set.set(64);
  set.set(200);
  EXPECT_TRUE(set.test(3));
  EXPECT_TRUE(set.test(64));
  EXPECT_TRUE(set.test(200));
  EXPECT_FALSE(set.test(63));
  EXPECT_EQ(set.count(), 3u);
  set.reset(64);
  EXPECT_FALSE(set.test(64));
  EXPECT_EQ(set.count(), 2u);
  set.clear();
  EXPECT_EQ(set.count(), 0u);
  EXPECT_TRUE(set.empty());
  EXPECT_FALSE(set.test(200));
}

TEST(EndpointSet, ForEachVisitsSetIndicesInOrder) {
  EndpointSet set;
  for (size_t i : {130u, 0u, 63u, 64u, 7u}) set.set(i);
  std::vector<size_t> seen;
  set.forEach([&](size_t i) { seen.push_back(i); });
  EXPECT_EQ(seen, (std::vector<size_t>{0, 7, 63, 64, 130}));
}

}  // namespace
}  // namespace weir::balance
