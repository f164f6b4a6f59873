// Random: weighted random choice. Worker-local and mutable (its PRNG): one instance per worker
// and cluster, used by that worker's thread only.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/balancer.h"
#include "balance/rng.h"
#include "balance/weighted_sampler.h"

namespace weir::balance {

/// Each pick draws an eligible endpoint with probability proportional to its (scaled) weight:
/// alias table, O(1) without exclusions. Stateless between picks apart from the PRNG.
class Random final : public Balancer {
 public:
  /// `weights[i]` >= 1. `seed` seeds the PRNG: give each worker its own.
  Random(std::vector<int> weights, uint64_t seed);

  std::optional<size_t> pick(const PickContext& ctx) override;
  size_t size() const override { return sampler_.size(); }
  void setWeightScale(size_t i, double scale) override { sampler_.setScale(i, scale); }

 private:
  WeightedSampler sampler_;
  Rng rng_;
};

}  // namespace weir::balance
