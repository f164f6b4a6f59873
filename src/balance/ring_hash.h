// RingHash: ketama-style consistent hashing. Built once per worker and cluster (immutable ring)
// plus a PRNG for requests without a key; used by that worker's thread only.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/balancer.h"
#include "balance/rng.h"
#include "balance/weighted_sampler.h"

namespace weir::balance {

/// Endpoint i owns round(vnodes_per_weight * weights[i]) points on a 64-bit ring, placed at
/// hashPair(ids[i], r) (at least one; all counts scaled down together past kMaxRingSize
/// points). A count depends only on the endpoint's own weight, so membership changes move only
/// the keys of the endpoints that come or go. Shares of keys vary by about
/// 1/sqrt(points per endpoint): 256 per unit of weight keeps them within a few percent.
/// A key goes to the owner of the first point at or after mix64(hash) (binary search); when
/// that owner is excluded, to the next owner clockwise that is not. Removing one of N endpoints
/// moves only the keys it owned (about 1/N). Points depend on ids, not on positions, so ids
/// must identify endpoints stably (e.g. hashKey("10.0.0.1:8080")). Without ctx.hash: weighted
/// random. setWeightScale() is ignored. pick() is O(log ring) and allocates nothing.
class RingHash final : public Balancer {
 public:
  static constexpr uint32_t kDefaultVnodesPerWeight = 256;
  static constexpr size_t kMaxRingSize = size_t{1} << 18;  // 12 bytes a point: 3 MiB

  /// `weights[i]` >= 1; `ids[i]` is endpoint i's stable identity (missing: i); `seed` seeds the
  /// PRNG used for requests without a key.
  RingHash(std::vector<int> weights, std::vector<uint64_t> ids, uint64_t seed,
           uint32_t vnodes_per_weight = kDefaultVnodesPerWeight);

  std::optional<size_t> pick(const PickContext& ctx) override;
  size_t size() const override { return sampler_.size(); }

  /// Number of points on the ring.
  size_t ringSize() const { return points_.size(); }

 private:
  std::vector<uint64_t> points_;  // sorted ring positions
  std::vector<uint32_t> owners_;  // owners_[k]: endpoint owning points_[k]
  WeightedSampler sampler_;       // requests without a key
  Rng rng_;
};

}  // namespace weir::balance
