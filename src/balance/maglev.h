// Maglev: consistent hashing by lookup table (Eisenbud et al., "Maglev", NSDI 2016), weighted
// as in Envoy. Built once per worker and cluster (immutable table) plus a PRNG for requests
// without a key; used by that worker's thread only.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/balancer.h"
#include "balance/rng.h"
#include "balance/weighted_sampler.h"

namespace weir::balance {

/// Each endpoint walks its own permutation of the table (offset and skip from hashPair(id, ..))
/// and claims its next free slot when it takes a turn; endpoint i takes weights[i] / max weight
/// of the turns, so slots follow weights. A key goes to table[mix64(hash) mod M]: O(1). When
/// that endpoint is excluded the key is rehashed (deterministically, up to 16 times), then the
/// following slots are walked. Removing one of N endpoints moves its keys plus a few percent
/// more. Without ctx.hash: weighted random. setWeightScale() is ignored. No allocation per pick.
class Maglev final : public Balancer {
 public:
  static constexpr size_t kDefaultTableSize = 65537;

  /// `weights[i]` >= 1; `ids[i]` is endpoint i's stable identity (missing: i); `seed` seeds the
  /// PRNG for requests without a key. `table_size` is rounded up to a prime (the permutations
  /// need one) and should be well above 100 * size() for even shares.
  Maglev(std::vector<int> weights, std::vector<uint64_t> ids, uint64_t seed,
         size_t table_size = kDefaultTableSize);

  std::optional<size_t> pick(const PickContext& ctx) override;
  size_t size() const override { return sampler_.size(); }

  /// The table size actually used (a prime).
  size_t tableSize() const { return table_.size(); }
  /// Endpoint owning slot k, for tests.
  size_t slotOwner(size_t k) const { return table_[k]; }

 private:
  static constexpr int kRehashTries = 16;

  std::vector<uint32_t> table_;
  WeightedSampler sampler_;  // requests without a key
  Rng rng_;
};

}  // namespace weir::balance
