#include "balance/weighted_sampler.h"

#include <cassert>
#include <cmath>
#include <limits>

#include "balance/slow_start.h"

namespace weir::balance {

WeightedSampler::WeightedSampler(const std::vector<int>& weights)
    : base_(weights.begin(), weights.end()),
      effective_(base_),
      threshold_(weights.size()),
      alias_(weights.size()),
      scaled_(weights.size()),
      small_(weights.size()),
      large_(weights.size()) {
  for ([[maybe_unused]] double w : base_) assert(w >= 1 && "weights must be >= 1");
  if (!base_.empty()) rebuild();
}

void WeightedSampler::setScale(size_t i, double scale) {
  if (i >= base_.size()) return;
  effective_[i] = base_[i] * clampWeightScale(scale);
  dirty_ = true;
}

void WeightedSampler::rebuild() {
  dirty_ = false;
  const size_t n = base_.size();
  double total = 0;
  for (double w : effective_) total += w;
  constexpr double kOne = 4294967296.0;  // 2^32: probability 1 in fixed point
  auto fixed = [](double p) {
    const double t = p * kOne;
    return t >= kOne - 1 ? std::numeric_limits<uint32_t>::max() : static_cast<uint32_t>(t);
  };
  size_t n_small = 0, n_large = 0;
  for (size_t i = 0; i < n; ++i) {
    scaled_[i] = effective_[i] * static_cast<double>(n) / total;
    (scaled_[i] < 1.0 ? small_[n_small++] : large_[n_large++]) = static_cast<uint32_t>(i);
  }
  while (n_small > 0 && n_large > 0) {
    const uint32_t s = small_[--n_small];
    const uint32_t l = large_[n_large - 1];
    threshold_[s] = fixed(scaled_[s]);
    alias_[s] = l;
    scaled_[l] -= 1.0 - scaled_[s];
    if (scaled_[l] < 1.0) {
      --n_large;
      small_[n_small++] = l;
    }
  }
  // What is left has probability 1, up to rounding.
  while (n_large > 0) {
    const uint32_t l = large_[--n_large];
    threshold_[l] = std::numeric_limits<uint32_t>::max();
    alias_[l] = l;
  }
  while (n_small > 0) {
    const uint32_t s = small_[--n_small];
    threshold_[s] = std::numeric_limits<uint32_t>::max();
    alias_[s] = s;
  }
}

}  // namespace weir::balance
