// Balancer: the interface every load-balancing policy implements (one file per policy).
// Pure (no <uv.h>). Each worker owns its own balancers; a balancer is touched by one thread only.
#pragma once

#include <bit>
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
  bool empty() const { return count() == 0; }

 private:
  std::vector<uint64_t> words_;
};

/// What a pick may depend on. Both fields are optional; policies ignore what they do not use.
struct PickContext {
  std::optional<uint64_t> hash;           // request key for hashing policies
  const EndpointSet* excluded = nullptr;  // endpoints that must not be picked; null: none
};

class Balancer {
 public:
  virtual ~Balancer() = default;
  /// Index of the endpoint to use, in [0, size()); nullopt when every endpoint is excluded
  /// (or there are none).
  virtual std::optional<size_t> pick(const PickContext& ctx) = 0;
  /// Number of endpoints.
  virtual size_t size() const = 0;
};

}  // namespace weir::balance
