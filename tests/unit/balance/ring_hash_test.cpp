#include "balance/ring_hash.h"

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

TEST(RingHash, SameKeySameEndpoint) {
  RingHash a(std::vector<int>(5, 1), serverIds(5), 1);
  RingHash b(std::vector<int>(5, 1), serverIds(5), 2);  // the seed only matters without a key
  for (int k = 0; k < 1000; ++k) {
    auto first = a.pick({.hash = keyHash(k)});
    EXPECT_EQ(first, a.pick({.hash = keyHash(k)}));
    EXPECT_EQ(first, b.pick({.hash = keyHash(k)}));
  }
}

TEST(RingHash, RemovingOneOfTenServersMovesOnlyItsShareOfKeys) {
  const size_t n = 10;
  RingHash full(std::vector<int>(n, 1), serverIds(n), 1);
  for (size_t removed = 0; removed < n; ++removed) {
    RingHash smaller(std::vector<int>(n - 1, 1), serverIds(n, removed), 1);
    int moved = 0;
    for (int k = 0; k < kKeys; ++k) {
      size_t before = *full.pick({.hash = keyHash(k)});
      size_t after = *smaller.pick({.hash = keyHash(k)});
      if (after >= removed) ++after;  // back to the full list's indices
      moved += before != after;
    }
    EXPECT_LE(moved, kKeys * (1.0 / n + 0.02)) << "removing server " << removed;
  }
}

TEST(RingHash, AddingAServerOnlyTakesKeys) {
  RingHash before(std::vector<int>(9, 1), serverIds(9), 1);
  RingHash after(std::vector<int>(10, 1), serverIds(10), 1);
  for (int k = 0; k < kKeys; ++k) {
    size_t now = *after.pick({.hash = keyHash(k)});
    if (now != 9) {
      EXPECT_EQ(now, *before.pick({.hash = keyHash(k)}));
    }
  }
}

TEST(RingHash, KeySharesRoughlyFollowWeights) {
  const std::vector<int> weights{1, 2, 3, 4};
  RingHash ring(weights, serverIds(4), 1);
  EXPECT_EQ(ring.ringSize(), 10 * RingHash::kDefaultVnodesPerWeight);
  std::vector<int> hits(4, 0);
  for (int k = 0; k < 100'000; ++k) ++hits[*ring.pick({.hash = keyHash(k)})];
  testing::expectSharesMatchWeights(hits, weights, 0.15);  // +-1/sqrt(256 points): rough
}

TEST(RingHash, ExcludedEndpointsKeysGoToTheNextOnTheRingOthersStay) {
  RingHash ring(std::vector<int>(6, 1), serverIds(6), 1);
  EndpointSet excluded;
  excluded.set(2);
  std::vector<int> moved_to(6, 0);
  for (int k = 0; k < kKeys; ++k) {
    size_t normal = *ring.pick({.hash = keyHash(k)});
    size_t now = *ring.pick({.hash = keyHash(k), .excluded = &excluded});
    if (normal != 2) {
      EXPECT_EQ(now, normal);
    } else {
      EXPECT_NE(now, 2u);
      ++moved_to[now];
      EXPECT_EQ(now, *ring.pick({.hash = keyHash(k), .excluded = &excluded}));  // stable
    }
  }
  int receivers = 0;
  for (int c : moved_to) receivers += c > 0;
  EXPECT_GE(receivers, 4);  // spread over the other servers, not dumped on one neighbour
}

TEST(RingHash, WithoutAKeyFallsBackToWeightedRandom) {
  const std::vector<int> weights{3, 1};
  RingHash ring(weights, serverIds(2), 5);
  testing::expectSharesMatchWeights(testing::countPicks(ring), weights, 0.02);
}

TEST(RingHash, ReturnsNothingWhenEveryEndpointIsExcluded) {
  RingHash ring({1, 2, 3}, serverIds(3), 1);
  EndpointSet excluded;
  for (size_t i = 0; i < 3; ++i) excluded.set(i);
  EXPECT_EQ(ring.pick({.hash = 42, .excluded = &excluded}), std::nullopt);
  EXPECT_EQ(ring.pick({.excluded = &excluded}), std::nullopt);
  excluded.reset(1);
  EXPECT_EQ(ring.pick({.hash = 42, .excluded = &excluded}), 1u);
}

TEST(RingHash, CapsTheRingSize) {
  RingHash ring(std::vector<int>(2000, 1000), {}, 1);
  EXPECT_LE(ring.ringSize(), RingHash::kMaxRingSize + 2000);
  EXPECT_TRUE(ring.pick({.hash = 7}).has_value());
}

TEST(RingHash, ReturnsNothingWithoutEndpoints) {
  RingHash ring({}, {}, 1);
  EXPECT_EQ(ring.pick({.hash = 1}), std::nullopt);
  EXPECT_EQ(ring.pick({}), std::nullopt);
}

}  // namespace
}  // namespace weir::balance
