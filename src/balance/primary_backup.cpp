#include "balance/primary_backup.h"

#include <cassert>

namespace weir::balance {

PrimaryBackup::PrimaryBackup(std::vector<bool> is_backup, std::unique_ptr<Balancer> primary,
                             std::unique_ptr<Balancer> backup, std::vector<uint32_t> max_conns)
    : tier_of_(is_backup.size()),
      local_(is_backup.size()),
      in_flight_(is_backup.size(), 0),
      max_conns_(std::move(max_conns)),
      full_(is_backup.size()) {
  tiers_[0].balancer = std::move(primary);
  tiers_[1].balancer = std::move(backup);
  max_conns_.resize(is_backup.size(), 0);
  for (size_t i = 0; i < is_backup.size(); ++i) {
    const uint8_t t = is_backup[i] ? 1 : 0;
    tier_of_[i] = t;
    local_[i] = tiers_[t].global.size();
    tiers_[t].global.push_back(i);
  }
  for (Tier& tier : tiers_) {
    tier.excluded = EndpointSet(tier.global.size());
    assert((tier.global.empty() || tier.balancer) && "a tier with endpoints needs a balancer");
    assert((!tier.balancer || tier.balancer->size() == tier.global.size()) &&
           "balancer size must match its tier");
  }
}

const EndpointSet* PrimaryBackup::translate(uint8_t t, const EndpointSet* excluded) {
  Tier& tier = tiers_[t];
  bool any = false;
  tier.excluded.clear();
  auto add = [&](size_t i) {
    if (i >= tier_of_.size() || tier_of_[i] != t) return;
    tier.excluded.set(local_[i]);
    any = true;
  };
  if (excluded != nullptr) excluded->forEach(add);
  full_.forEach(add);
  return any ? &tier.excluded : nullptr;
}

std::optional<size_t> PrimaryBackup::pick(const PickContext& ctx) {
  for (uint8_t t = 0; t < 2; ++t) {
    Tier& tier = tiers_[t];
    if (!tier.balancer || tier.global.empty()) continue;
    PickContext inner = ctx;
    inner.excluded = translate(t, ctx.excluded);
    if (std::optional<size_t> local = tier.balancer->pick(inner)) return tier.global[*local];
  }
  return std::nullopt;
}

void PrimaryBackup::onStart(size_t i) {
  if (i >= tier_of_.size()) return;
  ++in_flight_[i];
  if (max_conns_[i] != 0 && in_flight_[i] >= max_conns_[i]) full_.set(i);
  tiers_[tier_of_[i]].balancer->onStart(local_[i]);
}

void PrimaryBackup::onFinish(size_t i, std::chrono::microseconds latency, bool ok,
                             uint64_t now_ms) {
  if (i >= tier_of_.size()) return;
  if (in_flight_[i] > 0) --in_flight_[i];
  if (max_conns_[i] == 0 || in_flight_[i] < max_conns_[i]) full_.reset(i);
  tiers_[tier_of_[i]].balancer->onFinish(local_[i], latency, ok, now_ms);
}

void PrimaryBackup::setWeightScale(size_t i, double scale) {
  if (i >= tier_of_.size()) return;
  tiers_[tier_of_[i]].balancer->setWeightScale(local_[i], scale);
}

}  // namespace weir::balance
