// makeBalancer: builds one worker's balancer for one cluster from the configured policy and
// servers. Called on the worker's thread (or before it starts); the result belongs to it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "balance/balancer.h"

namespace weir::balance {

enum class Policy { RoundRobin, LeastConn, Random, P2C, Ewma, RingHash, Maglev, First };

/// One configured server, as the balancer sees it.
struct EndpointSpec {
  int weight = 1;          // >= 1
  bool backup = false;     // used only when no primary is available
  uint32_t max_conns = 0;  // in-flight cap per worker; 0 = unlimited
  /// Stable identity for hashing policies, e.g. "10.0.0.1:8080", so that keys stay put when
  /// other servers are added or removed. Empty: the listed position (stable only at the end).
  std::string key;
};

struct BalancerOptions {
  size_t maglev_table_size = 65537;       // rounded up to a prime
  uint32_t ring_vnodes_per_weight = 256;  // ring points per unit of weight
  std::chrono::milliseconds ewma_decay{10'000};
};

/// "round_robin", "least_conn", "random", "p2c", "ewma", "ring_hash", "maglev", "first";
/// anything else gives nullopt.
std::optional<Policy> parsePolicy(std::string_view name);
/// The name parsePolicy() accepts for `policy`.
std::string_view policyName(Policy policy);

/// The balancer for `endpoints` (indices as listed). `seed` should differ per worker: it seeds
/// PRNGs and round robin's start offset. Backups, and max_conns for policies that do not count
/// in-flight requests themselves, are handled by a PrimaryBackup wrapper, added only when
/// needed. Never null.
std::unique_ptr<Balancer> makeBalancer(Policy policy, std::vector<EndpointSpec> endpoints,
                                       uint64_t seed, const BalancerOptions& options = {});

}  // namespace weir::balance
