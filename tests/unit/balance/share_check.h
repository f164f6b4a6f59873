// Helpers shared by the balance tests: count picks, compare shares with weights.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <numeric>
#include <vector>

#include "balance/balancer.h"

namespace weir::balance::testing {

inline constexpr int kPicks = 100'000;

/// Picks `picks` times; with `feedback`, each pick is followed by onStart and an instant
/// onFinish (nothing stays in flight). Returns how often each endpoint was picked.
inline std::vector<int> countPicks(Balancer& balancer, int picks = kPicks,
                                   const EndpointSet* excluded = nullptr, bool feedback = true) {
  std::vector<int> hits(balancer.size(), 0);
  for (int i = 0; i < picks; ++i) {
    auto picked = balancer.pick({.excluded = excluded});
    EXPECT_TRUE(picked.has_value());
    if (!picked) break;
    ++hits[*picked];
    if (feedback) {
      balancer.onStart(*picked);
      balancer.onFinish(*picked, std::chrono::microseconds(1000), true, 0);
    }
  }
  return hits;
}

/// Each endpoint's share of `hits` is within `tolerance` (relative) of its share of `weights`.
inline void expectSharesMatchWeights(const std::vector<int>& hits,
                                     const std::vector<double>& weights, double tolerance) {
  ASSERT_EQ(hits.size(), weights.size());
  const double total_hits = std::accumulate(hits.begin(), hits.end(), 0.0);
  const double total_weight = std::accumulate(weights.begin(), weights.end(), 0.0);
  for (size_t i = 0; i < weights.size(); ++i) {
    const double expected = weights[i] / total_weight;
    const double observed = hits[i] / total_hits;
    EXPECT_LE(std::abs(observed - expected), tolerance * expected)
        << "endpoint " << i << ": observed share " << observed << ", expected " << expected;
  }
}

inline void expectSharesMatchWeights(const std::vector<int>& hits, const std::vector<int>& weights,
                                     double tolerance) {
  expectSharesMatchWeights(hits, std::vector<double>(weights.begin(), weights.end()), tolerance);
}

/// Weight sets used by the share tests: shares from 1/1011 to 3/4.
inline const std::vector<std::vector<int>>& weightSets() {
  static const std::vector<std::vector<int>> sets{
      {3, 1}, {5, 1, 1}, {1, 1, 1, 1}, {1, 2, 3}, {1000, 1, 7, 250}};
  return sets;
}

}  // namespace weir::balance::testing
