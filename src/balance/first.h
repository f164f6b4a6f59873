// First: always the first available endpoint in listed order (active/standby setups).
// Stateless; one instance per worker and cluster like every balancer.
#pragma once

#include "balance/balancer.h"

namespace weir::balance {

/// Picks the lowest index not excluded. Ignores weights, hashes and feedback. O(n) worst case.
class First final : public Balancer {
 public:
  explicit First(size_t size) : size_(size) {}

  std::optional<size_t> pick(const PickContext& ctx) override;
  size_t size() const override { return size_; }

 private:
  size_t size_;
};

}  // namespace weir::balance
