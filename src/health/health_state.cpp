#include "health/health_state.h"

#include <algorithm>

namespace weir::health {

HealthState::HealthState(int rise, int fall, bool initially_healthy)
    : rise_(std::max(rise, 1)), fall_(std::max(fall, 1)), health_(initially_healthy ? top() : 0) {}

bool HealthState::observe(bool passed) {
  if (healthy()) {
    if (passed) {
      health_ = top();  // a pass clears the failure streak
      return false;
    }
    if (--health_ >= rise_) return false;
    health_ = 0;  // `fall` failures in a row: down, with an empty pass streak
    return true;
  }
  if (!passed) {
    health_ = 0;  // a failure clears the pass streak
    return false;
  }
  if (++health_ < rise_) return false;
  health_ = top();  // `rise` passes in a row: up, with an empty failure streak
  return true;
}

int HealthState::streak() const { return healthy() ? top() - health_ : health_; }

}  // namespace weir::health
