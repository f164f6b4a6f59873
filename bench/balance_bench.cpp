// Smooth weighted round robin: ns per pick at 4, 64 and 1024 servers (weights 1..10), with and
// without an "excluded" set (a quarter of the servers down), and how fair the picks were:
// max_share_error = max over servers of |observed share - weight share| / weight share.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "balance/round_robin.h"

namespace {

using weir::balance::EndpointSet;
using weir::balance::RoundRobin;

std::vector<int> mixedWeights(size_t n) {
  std::vector<int> weights(n);
  for (size_t i = 0; i < n; ++i) weights[i] = static_cast<int>(i % 10) + 1;
  return weights;
}

// Largest relative error of a server's observed share against its weight share, over the
// servers not excluded.
double maxShareError(const std::vector<uint64_t>& hits, const std::vector<int>& weights,
                     const EndpointSet* excluded = nullptr) {
  double total_hits = 0, total_weight = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (excluded && excluded->test(i)) continue;
    total_hits += static_cast<double>(hits[i]);
    total_weight += weights[i];
  }
  double worst = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (excluded && excluded->test(i)) continue;
    const double expected = weights[i] / total_weight;
    const double observed = static_cast<double>(hits[i]) / total_hits;
    worst = std::max(worst, std::abs(observed - expected) / expected);
  }
  return worst;
}

void BM_SmoothRoundRobinPick(benchmark::State& state) {
  const auto weights = mixedWeights(static_cast<size_t>(state.range(0)));
  RoundRobin balancer(weights);
  std::vector<uint64_t> hits(weights.size(), 0);
  for (auto _ : state) ++hits[*balancer.pick({})];
  state.counters["max_share_error"] = maxShareError(hits, weights);
}
BENCHMARK(BM_SmoothRoundRobinPick)->Arg(4)->Arg(64)->Arg(1024);

void BM_SmoothRoundRobinPickWithExcluded(benchmark::State& state) {
  const auto weights = mixedWeights(static_cast<size_t>(state.range(0)));
  RoundRobin balancer(weights);
  EndpointSet excluded(weights.size());
  for (size_t i = 0; i < weights.size(); i += 4) excluded.set(i);
  std::vector<uint64_t> hits(weights.size(), 0);
  for (auto _ : state) ++hits[*balancer.pick({.excluded = &excluded})];
  state.counters["max_share_error"] = maxShareError(hits, weights, &excluded);
}
BENCHMARK(BM_SmoothRoundRobinPickWithExcluded)->Arg(4)->Arg(64)->Arg(1024);

}  // namespace
