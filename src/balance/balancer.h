// Balancer: the interface every load-balancing policy implements (one file per policy).
// Pure (no <uv.h>, no clock reads: time comes in as `now_ms`). Each worker owns its own balancers;
// a balancer is touched by one thread only.
//
// Server options, and who enforces them:
// - weight: every weighted policy; `first` ignores weights.
// - backup: makeBalancer() wraps the policy in PrimaryBackup, which picks among primaries and
//   falls back to the backups only when no primary is available.
// - max_conns: LeastConn, P2C and Ewma count in-flight requests (onStart/onFinish) and never pick
//   a full endpoint. For the other policies makeBalancer() adds PrimaryBackup, which counts the
//   same way and excludes full endpoints. Callers using a policy directly add full endpoints to
//   `excluded` themselves.
// - slow start: the caller calls setWeightScale(i, slowStartScale(...)) as time passes.
#pragma once

#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace weir::balance {

/// A small set of endpoint indices, e.g. those not ready or already tried by a request.
/// Grows on set(); clear() keeps the storage, so a reused set allocates nothing.
class EndpointSet {
 public:
  EndpointSet() = default;
  /// Reserves room for indices below `size` so later set() calls do not allocate.
  explicit EndpointSet(size_t size) : words_((size + 63) / 64, 0) {}

  void set(size_t i) {
    if (i / 64 >= words_.size()) words_.resize(i / 64 + 1, 0);
    words_[i / 64] |= uint64_t{1} << (i % 64);
  }
  void reset(size_t i) {
    if (i / 64 < words_.size()) words_[i / 64] &= ~(uint64_t{1} << (i % 64));
  }
  bool test(size_t i) const { return i / 64 < words_.size() && (words_[i / 64] >> (i % 64)) & 1; }
  /// Removes every index; keeps the storage.
  void clear() {
    for (auto& w : words_) w = 0;
  }
  size_t count() const {
    size_t n = 0;
    for (auto w : words_) n += static_cast<size_t>(std::popcount(w));
    return n;
  }
  bool empty() const {
    for (auto w : words_)
      if (w != 0) return false;
    return true;
  }
  /// Calls fn(i) for every index in the set, in increasing order.
  template <class Fn>
  void forEach(Fn&& fn) const {
    for (size_t w = 0; w < words_.size(); ++w) {
      for (uint64_t bits = words_[w]; bits != 0; bits &= bits - 1)
        fn(w * 64 + static_cast<size_t>(std::countr_zero(bits)));
    }
  }

 private:
  std::vector<uint64_t> words_;
};

/// What a pick may depend on. Every field is optional; policies ignore what they do not use.
struct PickContext {
  std::optional<uint64_t> hash;           // request key for hashing policies (see hashKey())
  const EndpointSet* excluded = nullptr;  // endpoints that must not be picked; null: none
  uint64_t now_ms = 0;                    // caller's clock, for policies that decay state
};

class Balancer {
 public:
  virtual ~Balancer() = default;
  /// Index of the endpoint to use, in [0, size()); nullopt when every endpoint is excluded
  /// (or full, or there are none). Allocates nothing.
  virtual std::optional<size_t> pick(const PickContext& ctx) = 0;
  /// Number of endpoints.
  virtual size_t size() const = 0;

  /// Feedback from the proxy: a request was sent to endpoint i. Each onStart(i) must be followed
  /// by exactly one onFinish(i, ...). Default: ignored.
  virtual void onStart(size_t /*i*/) {}
  /// Feedback from the proxy: a request to endpoint i finished after `latency`; `ok` is false
  /// for failures (connect error, reset, 5xx). Default: ignored.
  virtual void onFinish(size_t /*i*/, std::chrono::microseconds /*latency*/, bool /*ok*/,
                        uint64_t /*now_ms*/) {}
  /// Slow start: endpoint i's weight is multiplied by `scale`, clamped to [0.1, 1]; 1 until
  /// called. Default: ignored, as by RingHash and Maglev (moving keys would defeat consistent
  /// hashing) and First (no weights). O(1), except Random/P2C/Ewma which rebuild their alias
  /// table once, lazily, at the next pick (O(n)).
  virtual void setWeightScale(size_t /*i*/, double /*scale*/) {}
};

}  // namespace weir::balance
