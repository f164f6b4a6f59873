// LeastConn: fewest in-flight requests relative to weight, as nginx's least_conn.
// Worker-local and mutable: one instance per worker and cluster, used by that worker's thread
// only; it sees only this worker's requests (onStart/onFinish).
#pragma once

#include <cstdint>
#include <vector>

#include "balance/balancer.h"

namespace weir::balance {

/// Picks the eligible endpoint with the lowest in_flight / weight (compared by
/// cross-multiplication, no division). Ties are broken by smooth weighted round robin among
/// the tied endpoints (nginx does the same), so with requests finishing before the next pick
/// the shares follow the weights exactly. An endpoint with max_conns > 0 and that many
/// requests in flight is never picked. pick() is O(n) and allocates nothing.
class LeastConn final : public Balancer {
 public:
  /// `weights[i]` >= 1; `max_conns[i]` caps in-flight requests on i (0 or missing: no cap).
  explicit LeastConn(std::vector<int> weights, std::vector<uint32_t> max_conns = {});

  std::optional<size_t> pick(const PickContext& ctx) override;
  size_t size() const override { return weights_.size(); }
  void onStart(size_t i) override;
  void onFinish(size_t i, std::chrono::microseconds latency, bool ok, uint64_t now_ms) override;
  void setWeightScale(size_t i, double scale) override;

  /// Requests in flight on endpoint i, as counted from onStart/onFinish.
  uint32_t inFlight(size_t i) const { return in_flight_[i]; }

 private:
  bool eligible(size_t i, const EndpointSet* excluded) const {
    return (max_conns_[i] == 0 || in_flight_[i] < max_conns_[i]) &&
           (excluded == nullptr || !excluded->test(i));
  }

  std::vector<int> base_;
  std::vector<int64_t> weights_;  // effective, fixed point (scaledWeight)
  std::vector<int64_t> current_;  // smooth round robin state for ties
  std::vector<uint32_t> in_flight_;
  std::vector<uint32_t> max_conns_;
};

}  // namespace weir::balance
