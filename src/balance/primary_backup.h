// PrimaryBackup: wraps any policy with the per-server options it does not know about: backup
// servers (used only when no primary is available) and max_conns (a full server is skipped).
// Built by makeBalancer(); worker-local like the balancers it owns.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "balance/balancer.h"

namespace weir::balance {

/// Endpoints keep their listed indices outside; inside, the primaries (listed order) form one
/// balancer and the backups another. pick() asks the primary balancer with the excluded and
/// full primaries excluded, and only when it has none to give asks the backup balancer the same
/// way. Feedback and weight scales are forwarded with translated indices. In-flight requests
/// are counted here for max_conns. pick() costs the inner pick plus O(words + excluded).
class PrimaryBackup final : public Balancer {
 public:
  /// `is_backup[i]`: endpoint i is a backup (the vector's size is size()). `primary` balances
  /// the primaries and `backup` the backups, indexed by their order among their own kind;
  /// either may be null when there are none. `max_conns[i]` caps in-flight requests on i
  /// (0 or missing: no cap).
  PrimaryBackup(std::vector<bool> is_backup, std::unique_ptr<Balancer> primary,
                std::unique_ptr<Balancer> backup, std::vector<uint32_t> max_conns = {});

  std::optional<size_t> pick(const PickContext& ctx) override;
  size_t size() const override { return tier_of_.size(); }
  void onStart(size_t i) override;
  void onFinish(size_t i, std::chrono::microseconds latency, bool ok, uint64_t now_ms) override;
  void setWeightScale(size_t i, double scale) override;

 private:
  struct Tier {
    std::unique_ptr<Balancer> balancer;
    std::vector<size_t> global;  // local index -> listed index
    EndpointSet excluded;        // reused for every pick
  };
  // Fills tier.excluded from the caller's set and the full endpoints; null when empty.
  const EndpointSet* translate(uint8_t t, const EndpointSet* excluded);

  Tier tiers_[2];  // 0: primaries, 1: backups
  std::vector<uint8_t> tier_of_;
  std::vector<size_t> local_;  // listed index -> index within its tier
  std::vector<uint32_t> in_flight_;
  std::vector<uint32_t> max_conns_;
  EndpointSet full_;
};

}  // namespace weir::balance
