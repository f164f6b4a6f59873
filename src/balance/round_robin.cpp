#include "balance/round_robin.h"

#include <cassert>

namespace weir::balance {

RoundRobin::RoundRobin(std::vector<int> weights, uint64_t start_offset)
    : weights_(weights.begin(), weights.end()), current_(weights.size(), 0) {
  for (int64_t w : weights_) {
    assert(w >= 1 && "RoundRobin weights must be >= 1");
    total_weight_ += w;
  }
  if (total_weight_ <= 0) return;
  // With no exclusions the state returns to all zeros after total_weight_ picks.
  uint64_t steps = start_offset % static_cast<uint64_t>(total_weight_);
  for (uint64_t i = 0; i < steps; ++i) (void)pick({});
}

std::optional<size_t> RoundRobin::pick(const PickContext& ctx) {
  const size_t n = weights_.size();
  if (n == 0) return std::nullopt;
  const EndpointSet* excluded = ctx.excluded;

  if (excluded == nullptr) {  // fast path: every endpoint is eligible
    size_t best = 0;
    int64_t best_current = current_[0] += weights_[0];
    for (size_t i = 1; i < n; ++i) {
      int64_t c = current_[i] += weights_[i];
      if (c > best_current) {
        best_current = c;
        best = i;
      }
    }
    current_[best] -= total_weight_;
    return best;
  }

  size_t best = n;
  int64_t best_current = 0;
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (excluded->test(i)) continue;
    int64_t c = current_[i] += weights_[i];
    total += weights_[i];
    if (best == n || c > best_current) {
      best_current = c;
      best = i;
    }
  }
  if (best == n) return std::nullopt;
  current_[best] -= total;
  return best;
}

}  // namespace weir::balance
