#include "balance/round_robin.h"

#include <cassert>

#include "balance/slow_start.h"

namespace weir::balance {

RoundRobin::RoundRobin(std::vector<int> weights, uint64_t start_offset)
    : base_(std::move(weights)), weights_(base_.size()), current_(base_.size(), 0) {
  uint64_t period = 0;
  for (size_t i = 0; i < base_.size(); ++i) {
    assert(base_[i] >= 1 && "RoundRobin weights must be >= 1");
    weights_[i] = scaledWeight(base_[i], 1.0);
    total_weight_ += weights_[i];
    period += static_cast<uint64_t>(base_[i]);
  }
  if (period == 0) return;
  // Scaling every weight by the same factor leaves the sequence unchanged, so with no
  // exclusions the state returns to all zeros after sum(base weights) picks.
  uint64_t steps = start_offset % period;
  for (uint64_t i = 0; i < steps; ++i) (void)pick({});
}

void RoundRobin::setWeightScale(size_t i, double scale) {
  if (i >= weights_.size()) return;
  const int64_t w = scaledWeight(base_[i], scale);
  total_weight_ += w - weights_[i];
  weights_[i] = w;
}

std::optional<size_t> RoundRobin::pick(const PickContext& ctx) {
  const size_t n = weights_.size();
  if (n == 0) return std::nullopt;
  const EndpointSet* excluded = ctx.excluded;

  if (excluded == nullptr || excluded->empty()) {  // fast path: every endpoint is eligible
    const int64_t* w = weights_.data();
    int64_t* cur = current_.data();
    size_t best = 0;
    int64_t best_current = cur[0] += w[0];
    for (size_t i = 1; i < n; ++i) {
      const int64_t c = cur[i] += w[i];
      if (c > best_current) {
        best_current = c;
        best = i;
      }
    }
    cur[best] -= total_weight_;
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
