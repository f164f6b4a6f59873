#include "alerts/alert_batcher.h"

#include <utility>

namespace weir::alerts {

AlertBatcher::AlertBatcher(uint64_t batch_ms, size_t max_changes)
    : batch_ms_(batch_ms), max_changes_(max_changes) {}

void AlertBatcher::add(StateChange change, uint64_t now_ms) {
  if (changes_.empty()) first_ms_ = now_ms;
  if (changes_.size() >= max_changes_) {
    ++dropped_;
    return;
  }
  changes_.push_back(std::move(change));
}

std::optional<std::vector<StateChange>> AlertBatcher::take(uint64_t now_ms) {
  if (changes_.empty() || now_ms < nextDeadline()) return std::nullopt;
  return std::exchange(changes_, {});
}

uint64_t AlertBatcher::nextDeadline() const {
  if (changes_.empty()) return UINT64_MAX;
  return first_ms_ > UINT64_MAX - batch_ms_ ? UINT64_MAX : first_ms_ + batch_ms_;
}

}  // namespace weir::alerts
