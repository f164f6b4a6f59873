// StateChange: one server changing state (healthy -> unhealthy, ejected -> back, ...), the unit
// that alerts carry. Plain value, made by the control thread and handed to the AlertSender.
#pragma once

#include <cstdint>
#include <string>

namespace weir::alerts {

struct StateChange {
  std::string upstream;
  std::string server;
  std::string old_state;    // e.g. "healthy"
  std::string new_state;    // e.g. "unhealthy"
  uint64_t at_unix_ms = 0;  // wall clock when the change was decided
  std::string reason;       // e.g. "3 consecutive failed checks: connection refused"
};

}  // namespace weir::alerts
