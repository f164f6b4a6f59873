// RoundRobin: smooth weighted round robin, as in nginx (ngx_http_upstream_round_robin.c).
// Worker-local and mutable: one instance per worker and cluster, used by that worker's thread only.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/balancer.h"

namespace weir::balance {

/// Each pick: every eligible endpoint gets `current += weight`; the one with the largest
/// `current` (lowest index on ties) is picked and loses the eligible total. Over any run of
/// sum(weights) picks with no exclusions, endpoint i is picked exactly weights[i] times, spread
/// evenly ({5,1,1} gives a a b a c a a). Excluded endpoints keep their state untouched.
/// pick() is O(n) and allocates nothing.
class RoundRobin final : public Balancer {
 public:
  /// `weights[i]` >= 1 is endpoint i's weight. `start_offset` advances the sequence by that many
  /// picks (modulo the period sum(weights)) so workers can start at different points; costs
  /// O(n * (start_offset mod sum(weights))) once, here.
  explicit RoundRobin(std::vector<int> weights, uint64_t start_offset = 0);

  std::optional<size_t> pick(const PickContext& ctx) override;
  size_t size() const override { return weights_.size(); }
  /// Endpoint i's weight becomes weights[i] * scale (fixed point, see scaledWeight()); the
  /// smooth sequence adapts from the next pick. O(1).
  void setWeightScale(size_t i, double scale) override;

 private:
  std::vector<int> base_;         // configured weights
  std::vector<int64_t> weights_;  // effective: scaledWeight(base_[i], scale_i)
  std::vector<int64_t> current_;
  int64_t total_weight_ = 0;  // sum of weights_
};

}  // namespace weir::balance
