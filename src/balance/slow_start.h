// Slow start: how much of its weight a newly added (or newly healthy) endpoint gets while it
// warms up. Pure functions; the caller (a worker) owns the "since" times and feeds
// Balancer::setWeightScale().
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace weir::balance {

/// Smallest weight scale: an endpoint in slow start always gets a little traffic.
inline constexpr double kMinWeightScale = 0.1;

/// Weight scale of an endpoint that became available at `since_ms`: 0.1 at `since_ms`, rising
/// linearly to 1.0 at `since_ms + window_ms` and staying there (0.55 half way). A zero window,
/// or `now_ms` past the window, gives 1.0; `now_ms` before `since_ms` gives 0.1.
inline double slowStartScale(uint64_t since_ms, uint64_t now_ms, uint64_t window_ms) {
  if (now_ms <= since_ms) return window_ms == 0 ? 1.0 : kMinWeightScale;
  const uint64_t elapsed = now_ms - since_ms;
  if (elapsed >= window_ms) return 1.0;
  return kMinWeightScale +
         (1.0 - kMinWeightScale) * static_cast<double>(elapsed) / static_cast<double>(window_ms);
}

/// Clamps a scale to [0.1, 1]; NaN gives 1.
inline double clampWeightScale(double scale) {
  if (std::isnan(scale)) return 1.0;
  return std::clamp(scale, kMinWeightScale, 1.0);
}

/// Fixed-point effective weight for integer policies (RoundRobin, LeastConn):
/// weight * 1024 * clampWeightScale(scale), at least 1. Scale 1 keeps the weights' ratios exact.
inline int64_t scaledWeight(int weight, double scale) {
  constexpr double kUnit = 1024;
  const auto w = static_cast<int64_t>(std::llround(weight * kUnit * clampWeightScale(scale)));
  return std::max<int64_t>(w, 1);
}

}  // namespace weir::balance
