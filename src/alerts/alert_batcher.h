// AlertBatcher: gathers state changes into one message per window, so a flapping server gives one
// mail per batch_ms, not one per flap. Pure: time comes in as now_ms (any monotonic clock). Used
// by the AlertSender's thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "alerts/alert.h"

namespace weir::alerts {

/// Changes kept per batch at most; later ones in the same window are dropped and counted.
inline constexpr size_t kMaxBatchChanges = 1000;

class AlertBatcher {
 public:
  explicit AlertBatcher(uint64_t batch_ms, size_t max_changes = kMaxBatchChanges);

  /// Takes effect for the batch in progress too (its deadline moves).
  void setBatchMs(uint64_t batch_ms) { batch_ms_ = batch_ms; }

  /// Adds a change; the first change of a batch starts its window at now_ms.
  void add(StateChange change, uint64_t now_ms);

  /// The batch, in arrival order, once now_ms >= first change + batch_ms; none before that or
  /// when empty. The next add() starts a new window.
  std::optional<std::vector<StateChange>> take(uint64_t now_ms);

  /// When take() will next return a batch; UINT64_MAX when nothing is pending.
  uint64_t nextDeadline() const;

  size_t pending() const { return changes_.size(); }
  /// Changes dropped because a batch was full, since construction.
  uint64_t dropped() const { return dropped_; }

 private:
  uint64_t batch_ms_;
  size_t max_changes_;
  uint64_t first_ms_ = 0;
  std::vector<StateChange> changes_;
  uint64_t dropped_ = 0;
};

}  // namespace weir::alerts
