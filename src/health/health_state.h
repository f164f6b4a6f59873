// HealthState: one endpoint's up/down verdict with HAProxy-style rise/fall hysteresis, kept in a
// single counter. A small value type with no clock and no I/O; owned by whoever runs the checks
// (the control thread's active checker), one per endpoint.
#pragma once

namespace weir::health {

/// Hysteresis over a stream of check results: a healthy endpoint goes down after `fall`
/// consecutive failures, an unhealthy one comes back after `rise` consecutive passes. A pass
/// clears a failure streak and a failure clears a pass streak.
///
/// One integer `health_` in [0, rise + fall - 1], as in HAProxy: healthy when it is >= rise.
/// Healthy sits at the top (rise + fall - 1) and counts down on failures; unhealthy sits at 0 and
/// counts up on passes. Crossing the `rise` line flips the state and jumps to the other end.
class HealthState {
 public:
  /// `rise` and `fall` below 1 are treated as 1 (every result decides).
  HealthState(int rise, int fall, bool initially_healthy);

  bool healthy() const { return health_ >= rise_; }

  /// Records one check result; returns true when healthy() flipped.
  bool observe(bool passed);

  int rise() const { return rise_; }
  int fall() const { return fall_; }
  /// Consecutive results against the current state so far (failures while healthy, passes while
  /// unhealthy): 0 .. fall-1 or 0 .. rise-1.
  int streak() const;

 private:
  int top() const { return rise_ + fall_ - 1; }

  int rise_;
  int fall_;
  int health_;
};

}  // namespace weir::health
