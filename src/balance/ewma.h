// Ewma: peak-EWMA latency balancing (Finagle's PeakEwma, as in Linkerd), with two random
// choices. Worker-local and mutable: one instance per worker and cluster, used by that worker's
// thread only; it learns only from this worker's requests (onStart/onFinish).
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "balance/balancer.h"
#include "balance/rng.h"
#include "balance/weighted_sampler.h"

namespace weir::balance {

/// Each endpoint keeps a latency estimate: a response slower than the estimate replaces it at
/// once (peak-sensitive); a faster one moves it by 1 - exp(-elapsed / decay) (time-based EWMA).
/// While no responses arrive the estimate decays toward zero with the same time constant, so
/// an idle slow endpoint is retried after a few time constants. An endpoint with no response
/// yet scores the cluster-wide average latency (neutral: neither favoured nor avoided).
/// A pick draws two distinct eligible candidates by weight and takes the lower
/// cost = estimate * (1 + in_flight / weight) (Finagle's estimate * (in_flight + 1) when weights
/// are 1; a weight counts as that much capacity, so equal latencies keep the weight shares);
/// on a tie, the first drawn. A failure never lowers an estimate (fast errors
/// must not attract traffic). max_conns as in P2C. O(1) without exclusions; no allocation.
class Ewma final : public Balancer {
 public:
  static constexpr std::chrono::milliseconds kDefaultDecay{10'000};

  /// `weights[i]` >= 1; `seed` seeds the PRNG (one per worker); `max_conns[i]` caps in-flight
  /// requests on i (0 or missing: no cap); `decay` is the EWMA time constant.
  Ewma(std::vector<int> weights, uint64_t seed, std::vector<uint32_t> max_conns = {},
       std::chrono::milliseconds decay = kDefaultDecay);

  /// Uses ctx.now_ms to decay estimates; pass the same clock as to onFinish().
  std::optional<size_t> pick(const PickContext& ctx) override;
  size_t size() const override { return sampler_.size(); }
  void onStart(size_t i) override;
  void onFinish(size_t i, std::chrono::microseconds latency, bool ok, uint64_t now_ms) override;
  void setWeightScale(size_t i, double scale) override { sampler_.setScale(i, scale); }

  /// Endpoint i's latency estimate in microseconds at `now_ms` (the neutral average before its
  /// first response). For stats and tests.
  double estimateMicros(size_t i, uint64_t now_ms) const;
  uint32_t inFlight(size_t i) const { return endpoints_[i].in_flight; }

 private:
  struct Endpoint {
    double estimate_us = 0;
    uint64_t stamp_ms = 0;  // time of the last response
    uint32_t in_flight = 0;
    uint32_t max_conns = 0;  // 0: no cap
    bool sampled = false;    // has seen a response
  };

  double decayFactor(uint64_t from_ms, uint64_t to_ms) const;
  double cost(size_t i, uint64_t now_ms) const;
  template <class Eligible>
  std::optional<size_t> pickAmong(uint64_t now_ms, Eligible&& eligible);

  WeightedSampler sampler_;
  Rng rng_;
  std::vector<Endpoint> endpoints_;
  double decay_ms_;
  bool capped_ = false;
  // Cluster-wide EWMA of every response, the score of endpoints not sampled yet.
  double neutral_us_ = 1.0;
  uint64_t neutral_stamp_ms_ = 0;
  bool neutral_sampled_ = false;
};

}  // namespace weir::balance
