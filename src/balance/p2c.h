// P2C: power of two random choices by in-flight requests (Envoy's LEAST_REQUEST, Mitzenmacher).
// Worker-local and mutable: one instance per worker and cluster, used by that worker's thread
// only; it sees only this worker's requests (onStart/onFinish).
#pragma once

#include <cstdint>
#include <vector>

#include "balance/balancer.h"
#include "balance/rng.h"
#include "balance/weighted_sampler.h"

namespace weir::balance {

/// Draws two distinct eligible candidates by weight (one when only one is eligible) and picks the
/// one with the lower in_flight / weight; on a tie, the first drawn. With requests finishing before
/// the next pick the shares follow the weights; under load, traffic leans away from busy endpoints.
/// An endpoint with max_conns > 0 and that many requests in flight is never picked. O(1) without
/// exclusions; no allocation.
class P2C final : public Balancer {
 public:
  /// `weights[i]` >= 1; `seed` seeds the PRNG (one per worker); `max_conns[i]` caps in-flight
  /// requests on i (0 or missing: no cap).
  P2C(std::vector<int> weights, uint64_t seed, std::vector<uint32_t> max_conns = {});

  std::optional<size_t> pick(const PickContext& ctx) override;
  size_t size() const override { return sampler_.size(); }
  void onStart(size_t i) override;
  void onFinish(size_t i, std::chrono::microseconds latency, bool ok, uint64_t now_ms) override;
  void setWeightScale(size_t i, double scale) override { sampler_.setScale(i, scale); }

  /// Requests in flight on endpoint i, as counted from onStart/onFinish.
  uint32_t inFlight(size_t i) const { return in_flight_[i]; }

 private:
  template <class Eligible>
  std::optional<size_t> pickAmong(Eligible&& eligible);

  WeightedSampler sampler_;
  Rng rng_;
  std::vector<uint32_t> in_flight_;
  std::vector<uint32_t> max_conns_;
  bool capped_ = false;  // some max_conns_ > 0
};

}  // namespace weir::balance
