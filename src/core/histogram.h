// LatencyHistogram: request latencies in fixed buckets (Prometheus-style upper bounds), with
// quantiles estimated by interpolation inside a bucket. Plain value: each worker owns its own and
// they are merged on the control thread.
#pragma once

#include <array>
#include <cstdint>

namespace weir {

class LatencyHistogram {
 public:
  /// Upper bounds in microseconds; the last bucket is +Inf.
  static constexpr std::array<uint64_t, 16> kBoundsUs = {
      500,     1'000,   2'500,     5'000,     10'000,    25'000,     50'000,     100'000,
      250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000, 30'000'000, 60'000'000};
  static constexpr size_t kBuckets = kBoundsUs.size() + 1;

  void observe(uint64_t us) {
    size_t i = 0;
    while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
    ++counts_[i];
    sum_us_ += us;
    ++count_;
  }
  void merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    sum_us_ += other.sum_us_;
    count_ += other.count_;
  }
  uint64_t count() const { return count_; }
  uint64_t sumUs() const { return sum_us_; }
  uint64_t bucket(size_t i) const { return counts_[i]; }
  /// The q-quantile (0..1) in microseconds; 0 when empty.
  double quantileUs(double q) const;

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t sum_us_ = 0;
  uint64_t count_ = 0;
};

inline double LatencyHistogram::quantileUs(double q) const {
  if (count_ == 0) return 0;
  const double rank = q * static_cast<double>(count_);
  double seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    const double in_bucket = static_cast<double>(counts_[i]);
    if (seen + in_bucket >= rank && in_bucket > 0) {
      const double lo = i == 0 ? 0.0 : static_cast<double>(kBoundsUs[i - 1]);
      const double hi = i < kBoundsUs.size() ? static_cast<double>(kBoundsUs[i]) : lo * 2;
      return lo + (hi - lo) * ((rank - seen) / in_bucket);
    }
    seen += in_bucket;
  }
  return static_cast<double>(kBoundsUs.back());
}

}  // namespace weir
