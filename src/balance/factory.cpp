#include "balance/factory.h"

#include <array>
#include <utility>

#include "balance/ewma.h"
#include "balance/first.h"
#include "balance/hash.h"
#include "balance/least_conn.h"
#include "balance/maglev.h"
#include "balance/p2c.h"
#include "balance/primary_backup.h"
#include "balance/random.h"
#include "balance/ring_hash.h"
#include "balance/round_robin.h"

namespace weir::balance {
namespace {

constexpr std::array<std::pair<Policy, std::string_view>, 8> kNames{{
    {Policy::RoundRobin, "round_robin"},
    {Policy::LeastConn, "least_conn"},
    {Policy::Random, "random"},
    {Policy::P2C, "p2c"},
    {Policy::Ewma, "ewma"},
    {Policy::RingHash, "ring_hash"},
    {Policy::Maglev, "maglev"},
    {Policy::First, "first"},
}};

// Policies that count in-flight requests and honour max_conns themselves.
bool countsInFlight(Policy policy) {
  return policy == Policy::LeastConn || policy == Policy::P2C || policy == Policy::Ewma;
}

std::unique_ptr<Balancer> makePolicy(Policy policy, const std::vector<const EndpointSpec*>& specs,
                                     const std::vector<size_t>& positions, uint64_t seed,
                                     const BalancerOptions& options) {
  std::vector<int> weights;
  std::vector<uint32_t> max_conns;
  std::vector<uint64_t> ids;
  for (size_t k = 0; k < specs.size(); ++k) {
    weights.push_back(specs[k]->weight);
    max_conns.push_back(specs[k]->max_conns);
    ids.push_back(specs[k]->key.empty() ? mix64(positions[k]) : hashKey(specs[k]->key));
  }
  switch (policy) {
    case Policy::RoundRobin:
      return std::make_unique<RoundRobin>(std::move(weights), seed);
    case Policy::LeastConn:
      return std::make_unique<LeastConn>(std::move(weights), std::move(max_conns));
    case Policy::Random:
      return std::make_unique<Random>(std::move(weights), seed);
    case Policy::P2C:
      return std::make_unique<P2C>(std::move(weights), seed, std::move(max_conns));
    case Policy::Ewma:
      return std::make_unique<Ewma>(std::move(weights), seed, std::move(max_conns),
                                    options.ewma_decay);
    case Policy::RingHash:
      return std::make_unique<RingHash>(std::move(weights), std::move(ids), seed,
                                        options.ring_vnodes_per_weight);
    case Policy::Maglev:
      return std::make_unique<Maglev>(std::move(weights), std::move(ids), seed,
                                      options.maglev_table_size);
    case Policy::First:
      return std::make_unique<First>(weights.size());
  }
  return std::make_unique<First>(weights.size());
}

}  // namespace

std::optional<Policy> parsePolicy(std::string_view name) {
  for (const auto& [policy, policy_name] : kNames)
    if (name == policy_name) return policy;
  return std::nullopt;
}

std::string_view policyName(Policy policy) {
  for (const auto& [p, name] : kNames)
    if (p == policy) return name;
  return "unknown";
}

std::unique_ptr<Balancer> makeBalancer(Policy policy, std::vector<EndpointSpec> endpoints,
                                       uint64_t seed, const BalancerOptions& options) {
  std::vector<const EndpointSpec*> tiers[2];
  std::vector<size_t> positions[2];
  std::vector<bool> is_backup;
  std::vector<uint32_t> max_conns;
  bool capped = false;
  for (size_t i = 0; i < endpoints.size(); ++i) {
    const EndpointSpec& spec = endpoints[i];
    tiers[spec.backup].push_back(&spec);
    positions[spec.backup].push_back(i);
    is_backup.push_back(spec.backup);
    max_conns.push_back(spec.max_conns);
    capped = capped || spec.max_conns > 0;
  }
  const bool has_backups = !tiers[1].empty();
  if (!has_backups && (!capped || countsInFlight(policy)))
    return makePolicy(policy, tiers[0], positions[0], seed, options);

  std::unique_ptr<Balancer> primary, backup;
  if (!tiers[0].empty()) primary = makePolicy(policy, tiers[0], positions[0], seed, options);
  if (has_backups) backup = makePolicy(policy, tiers[1], positions[1], mix64(seed), options);
  return std::make_unique<PrimaryBackup>(std::move(is_backup), std::move(primary),
                                         std::move(backup), std::move(max_conns));
}

}  // namespace weir::balance
