#include "balance/least_conn.h"

#include <cassert>

#include "balance/slow_start.h"

namespace weir::balance {

LeastConn::LeastConn(std::vector<int> weights, std::vector<uint32_t> max_conns)
    : base_(std::move(weights)),
      weights_(base_.size()),
      current_(base_.size(), 0),
      in_flight_(base_.size(), 0),
      max_conns_(std::move(max_conns)) {
  max_conns_.resize(base_.size(), 0);
  for (size_t i = 0; i < base_.size(); ++i) {
    assert(base_[i] >= 1 && "LeastConn weights must be >= 1");
    weights_[i] = scaledWeight(base_[i], 1.0);
  }
}

void LeastConn::setWeightScale(size_t i, double scale) {
  if (i < weights_.size()) weights_[i] = scaledWeight(base_[i], scale);
}

void LeastConn::onStart(size_t i) {
  if (i < in_flight_.size()) ++in_flight_[i];
}

void LeastConn::onFinish(size_t i, std::chrono::microseconds, bool, uint64_t) {
  if (i < in_flight_.size() && in_flight_[i] > 0) --in_flight_[i];
}

std::optional<size_t> LeastConn::pick(const PickContext& ctx) {
  const size_t n = weights_.size();
  const EndpointSet* excluded = ctx.excluded;
  if (excluded != nullptr && excluded->empty()) excluded = nullptr;

  // Pass 1: the lowest load. a is less loaded than b iff in_a / w_a < in_b / w_b.
  size_t best = n;
  size_t ties = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!eligible(i, excluded)) continue;
    if (best == n) {
      best = i;
      ties = 1;
      continue;
    }
    const int64_t lhs = static_cast<int64_t>(in_flight_[i]) * weights_[best];
    const int64_t rhs = static_cast<int64_t>(in_flight_[best]) * weights_[i];
    if (lhs < rhs) {
      best = i;
      ties = 1;
    } else {
      ties += lhs == rhs;
    }
  }
  if (best == n) return std::nullopt;
  // A lone winner: round robin over one endpoint would leave its state unchanged.
  if (ties == 1) return best;

  // Pass 2: smooth weighted round robin among the endpoints as loaded as `best`.
  const int64_t best_in = in_flight_[best];
  const int64_t best_w = weights_[best];
  size_t chosen = n;
  int64_t chosen_current = 0;
  int64_t total = 0;
  for (size_t i = best; i < n; ++i) {
    if (static_cast<int64_t>(in_flight_[i]) * best_w != best_in * weights_[i] ||
        !eligible(i, excluded))
      continue;
    const int64_t c = current_[i] += weights_[i];
    total += weights_[i];
    if (chosen == n || c > chosen_current) {
      chosen_current = c;
      chosen = i;
    }
  }
  current_[chosen] -= total;
  return chosen;
}

}  // namespace weir::balance
