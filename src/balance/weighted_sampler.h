// WeightedSampler: draws endpoint indices with probability proportional to their effective
// weight, skipping ineligible ones. Shared by Random, P2C, Ewma and the hash policies' no-key
// fallback. Value type owned by one balancer, one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "balance/rng.h"

namespace weir::balance {

/// Vose's alias method (O(1) per draw, one random number). Ineligible draws are rejected a few
/// times, then an exact O(n) scan over the eligible weights takes over, so the result is always
/// proportional to weight among the eligible endpoints. No allocation after construction.
class WeightedSampler {
 public:
  /// `weights[i]` >= 1 is endpoint i's weight.
  explicit WeightedSampler(const std::vector<int>& weights);

  /// Effective weight of i becomes weights[i] * clampWeightScale(scale). The table is rebuilt
  /// (O(n)) at the next sample(), once however many scales changed.
  void setScale(size_t i, double scale);

  /// An index with eligible(index) true, drawn proportionally to effective weight; nullopt when
  /// no index is eligible. `eligible` is called a few times, or once per endpoint at worst.
  template <class Eligible>
  std::optional<size_t> sample(Rng& rng, Eligible&& eligible) {
    const size_t n = base_.size();
    if (n == 0) return std::nullopt;
    if (dirty_) rebuild();
    for (int attempt = 0; attempt < kRejectionTries; ++attempt) {
      const size_t i = draw(rng.next());
      if (eligible(i)) return i;
    }
    return scan(rng.uniform(), eligible);
  }

  /// Draws ignoring eligibility (n must be > 0, no pending setScale).
  size_t draw(uint64_t random) const {
    const size_t i = static_cast<size_t>(((random >> 32) * threshold_.size()) >> 32);
    return static_cast<uint32_t>(random) < threshold_[i] ? i : alias_[i];
  }

  size_t size() const { return base_.size(); }
  /// Endpoint i's effective weight.
  double weight(size_t i) const { return effective_[i]; }

 private:
  static constexpr int kRejectionTries = 8;

  template <class Eligible>
  std::optional<size_t> scan(double u, Eligible& eligible) const {
    const size_t n = base_.size();
    double total = 0;
    size_t last = n;
    for (size_t i = 0; i < n; ++i) {
      if (!eligible(i)) continue;
      total += effective_[i];
      last = i;
    }
    if (last == n) return std::nullopt;
    double r = u * total;
    for (size_t i = 0; i < last; ++i) {
      if (!eligible(i)) continue;
      if (r < effective_[i]) return i;
      r -= effective_[i];
    }
    return last;
  }

  void rebuild();

  std::vector<double> base_;
  std::vector<double> effective_;
  std::vector<uint32_t> threshold_;  // take column i when the low 32 random bits are below
  std::vector<uint32_t> alias_;      // otherwise take alias_[i]
  // Scratch for rebuild(), sized once.
  std::vector<double> scaled_;
  std::vector<uint32_t> small_, large_;
  bool dirty_ = true;
};

}  // namespace weir::balance
