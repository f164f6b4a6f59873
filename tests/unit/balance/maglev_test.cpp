#include "balance/maglev.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "balance/hash.h"
#include "share_check.h"

namespace weir::balance {
namespace {

constexpr int kKeys = 10'000;

std::vector<uint64_t> serverIds(size_t n, size_t skip = SIZE_MAX) {
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < n; ++i)
    if (i != skip) ids.push_back(hashKey("10.0.0." + std::to_string(i) + ":8080"));
  return ids;
}

uint64_t keyHash(int k) { return hashKey("user-" + std::to_string(k)); }

std::vector<int> keyHits(Maglev& maglev, int keys) {
  std::vector<int> hits(maglev.size(), 0);
  for (int k = 0; k < keys; ++k) ++hits[*maglev.pick({.hash = keyHash(k)})];
  return hits;
}

TEST(Maglev, SameKeySameEndpointAcrossInstances) {
  Maglev a(std::vector<int>(7, 1), serverIds(7), 1);
  Maglev b(std::vector<int>(7, 1), serverIds(7), 99);
  for (int k = 0; k < 1000; ++k)
    EXPECT_EQ(a.pick({.hash = keyHash(k)}), b.pick({.hash = keyHash(k)}));
}

TEST(Maglev, EqualWeightsShareKeysWithinFivePercent) {
  Maglev maglev(std::vector<int>(10, 1), serverIds(10), 1);
  testing::expectSharesMatchWeights(keyHits(maglev, 100'000), std::vector<int>(10, 1), 0.05);
}

TEST(Maglev, WeightedSharesOfKeysWithinFivePercent) {
  for (const auto& weights : {std::vector<int>{1, 2, 3, 4}, std::vector<int>{5, 1, 1},
                              std::vector<int>{10, 3, 7, 1, 1, 2, 9, 4, 6, 5}}) {
    SCOPED_TRACE(::testing::PrintToString(weights));
    Maglev maglev(weights, serverIds(weights.size()), 1);
    testing::expectSharesMatchWeights(keyHits(maglev, 200'000), weights, 0.05);
  }
}

TEST(Maglev, TableSlotsFollowWeights) {
  const std::vector<int> weights{1, 2, 3, 4};
  Maglev maglev(weights, serverIds(4), 1);
  std::vector<int> slots(4, 0);
  for (size_t k = 0; k < maglev.tableSize(); ++k) ++slots[maglev.slotOwner(k)];
  testing::expectSharesMatchWeights(slots, weights, 0.001);
}

TEST(Maglev, RemovingOneOfTenServersMovesLittleMoreThanItsShare) {
  const size_t n = 10;
  Maglev full(std::vector<int>(n, 1), serverIds(n), 1);
  for (size_t removed = 0; removed < n; ++removed) {
    Maglev smaller(std::vector<int>(n - 1, 1), serverIds(n, removed), 1);
    int moved = 0;
    for (int k = 0; k < kKeys; ++k) {
      size_t before = *full.pick({.hash = keyHash(k)});
      size_t after = *smaller.pick({.hash = keyHash(k)});
      if (after >= removed) ++after;
      moved += before != after;
    }
    EXPECT_LE(moved, kKeys * (1.0 / n + 0.02)) << "removing server " << removed;
  }
}

TEST(Maglev, ExcludedEndpointsKeysAreRehashedDeterministicallyOthersStay) {
  Maglev maglev(std::vector<int>(6, 1), serverIds(6), 1);
  EndpointSet excluded;
  excluded.set(4);
  std::vector<int> moved_to(6, 0);
  for (int k = 0; k < kKeys; ++k) {
    size_t normal = *maglev.pick({.hash = keyHash(k)});
    size_t now = *maglev.pick({.hash = keyHash(k), .excluded = &excluded});
    if (normal != 4) {
      EXPECT_EQ(now, normal);
    } else {
      EXPECT_NE(now, 4u);
      ++moved_to[now];
      EXPECT_EQ(now, *maglev.pick({.hash = keyHash(k), .excluded = &excluded}));
    }
  }
  for (size_t i = 0; i < 6; ++i)
    if (i != 4) {
      EXPECT_GT(moved_to[i], 200) << "moved keys spread evenly, endpoint " << i;
    }
}

TEST(Maglev, FindsTheLastEligibleEndpointBeyondTheRehashes) {
  Maglev maglev(std::vector<int>(200, 1), {}, 1);
  EndpointSet excluded;
  for (size_t i = 0; i < 200; ++i)
    if (i != 123) excluded.set(i);
  for (int k = 0; k < 100; ++k)
    EXPECT_EQ(maglev.pick({.hash = keyHash(k), .excluded = &excluded}), 123u);
}

TEST(Maglev, TableSizeIsConfigurableAndRoundedUpToAPrime) {
  Maglev small(std::vector<int>(3, 1), serverIds(3), 1, 1000);
  EXPECT_EQ(small.tableSize(), 1009u);
  Maglev prime(std::vector<int>(3, 1), serverIds(3), 1, 251);
  EXPECT_EQ(prime.tableSize(), 251u);
  EXPECT_EQ(Maglev(std::vector<int>(3, 1), {}, 1).tableSize(), 65537u);
}

TEST(Maglev, WithoutAKeyFallsBackToWeightedRandom) {
  const std::vector<int> weights{1, 3};
  Maglev maglev(weights, serverIds(2), 5);
  testing::expectSharesMatchWeights(testing::countPicks(maglev), weights, 0.02);
}

TEST(Maglev, ReturnsNothingWhenEveryEndpointIsExcluded) {
  Maglev maglev({1, 2, 3}, serverIds(3), 1);
  EndpointSet excluded;
  for (size_t i = 0; i < 3; ++i) excluded.set(i);
  EXPECT_EQ(maglev.pick({.hash = 42, .excluded = &excluded}), std::nullopt);
  EXPECT_EQ(maglev.pick({.excluded = &excluded}), std::nullopt);
}

TEST(Maglev, ReturnsNothingWithoutEndpoints) {
  Maglev maglev({}, {}, 1);
  EXPECT_EQ(maglev.pick({.hash = 1}), std::nullopt);
}

}  // namespace
}  // namespace weir::balance
