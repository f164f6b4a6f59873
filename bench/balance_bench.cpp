// Balancing policies: ns per pick at 4, 64 and 1024 servers (weights 1..10), with and without an
// "excluded" set (a quarter of the servers down), and how fair the picks were:
// max_share_error = max over servers of |observed share - weight share| / weight share.
// Hash policies pick with a different key each time (their error is over keys). Policies that
// use feedback get it as the proxy would: each pick is followed by onStart, and the oldest
// request finishes (onFinish) once sum(weights) are in flight, so that in-flight counts can be
// proportional to weights.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "balance/factory.h"
#include "balance/round_robin.h"

namespace {

using weir::balance::Balancer;
using weir::balance::EndpointSet;
using weir::balance::EndpointSpec;
using weir::balance::makeBalancer;
using weir::balance::Policy;
using weir::balance::RoundRobin;

std::vector<int> mixedWeights(size_t n) {
  std::vector<int> weights(n);
  for (size_t i = 0; i < n; ++i) weights[i] = static_cast<int>(i % 10) + 1;
  return weights;
}

std::vector<EndpointSpec> specs(const std::vector<int>& weights) {
  std::vector<EndpointSpec> out;
  for (size_t i = 0; i < weights.size(); ++i)
    out.push_back({.weight = weights[i], .key = "10.0." + std::to_string(i) + ":80"});
  return out;
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

bool usesFeedback(Policy p) {
  return p == Policy::LeastConn || p == Policy::P2C || p == Policy::Ewma;
}
bool usesHash(Policy p) { return p == Policy::RingHash || p == Policy::Maglev; }

// One policy at state.range(0) servers; a quarter excluded when `with_excluded`.
void pickLoop(benchmark::State& state, Policy policy, bool with_excluded) {
  const size_t n = static_cast<size_t>(state.range(0));
  const auto weights = mixedWeights(n);
  std::unique_ptr<Balancer> balancer = makeBalancer(policy, specs(weights), 1);
  EndpointSet excluded(n);
  if (with_excluded)
    for (size_t i = 0; i < n; i += 4) excluded.set(i);
  std::vector<uint64_t> hits(n, 0);
  const size_t depth = static_cast<size_t>(std::accumulate(weights.begin(), weights.end(), 0));
  std::vector<size_t> outstanding(depth, 0);  // FIFO ring of in-flight requests
  size_t oldest = 0, in_flight = 0;
  const bool feedback = usesFeedback(policy), hashed = usesHash(policy);
  uint64_t key = 0, now_ms = 0, picks = 0;

  for (auto _ : state) {
    weir::balance::PickContext ctx{.excluded = &excluded, .now_ms = now_ms};
    if (hashed) ctx.hash = key += 0x9e3779b97f4a7c15ULL;
    const size_t picked = *balancer->pick(ctx);
    ++hits[picked];
    if (feedback) {
      balancer->onStart(picked);
      if (in_flight < depth) {
        outstanding[in_flight++] = picked;
      } else {
        balancer->onFinish(outstanding[oldest], std::chrono::microseconds(1000), true, now_ms);
        outstanding[oldest] = picked;
        oldest = (oldest + 1) % depth;
      }
      now_ms += (++picks & 1023) == 0;  // a millisecond per 1024 picks
    }
  }
  benchmark::DoNotOptimize(hits.data());
  if (policy != Policy::First)
    state.counters["max_share_error"] =
        maxShareError(hits, weights, with_excluded ? &excluded : nullptr);
}

void BM_Pick(benchmark::State& state, Policy policy) { pickLoop(state, policy, false); }
void BM_PickWithExcluded(benchmark::State& state, Policy policy) { pickLoop(state, policy, true); }

#define WEIR_POLICY_BENCH(name, policy)                                 \
  BENCHMARK_CAPTURE(BM_Pick, name, policy)->Arg(4)->Arg(64)->Arg(1024); \
  BENCHMARK_CAPTURE(BM_PickWithExcluded, name, policy)->Arg(4)->Arg(64)->Arg(1024)

WEIR_POLICY_BENCH(round_robin, Policy::RoundRobin);
WEIR_POLICY_BENCH(least_conn, Policy::LeastConn);
WEIR_POLICY_BENCH(random, Policy::Random);
WEIR_POLICY_BENCH(p2c, Policy::P2C);
WEIR_POLICY_BENCH(ewma, Policy::Ewma);
WEIR_POLICY_BENCH(ring_hash, Policy::RingHash);
WEIR_POLICY_BENCH(maglev, Policy::Maglev);
WEIR_POLICY_BENCH(first, Policy::First);

}  // namespace
