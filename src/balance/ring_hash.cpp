#include "balance/ring_hash.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "balance/hash.h"

namespace weir::balance {

RingHash::RingHash(std::vector<int> weights, std::vector<uint64_t> ids, uint64_t seed,
                   uint32_t vnodes_per_weight)
    : sampler_(weights), rng_(seed) {
  const size_t n = weights.size();
  for (size_t i = ids.size(); i < n; ++i) ids.push_back(i);
  const double wanted = static_cast<double>(std::max<uint32_t>(vnodes_per_weight, 1)) *
                        std::accumulate(weights.begin(), weights.end(), 0.0);
  const double scale = wanted > kMaxRingSize ? kMaxRingSize / wanted : 1.0;

  struct Point {
    uint64_t position;
    uint64_t id;  // ties (64-bit collisions) go by id, not by listed position
    uint32_t owner;
  };
  std::vector<Point> ring;
  ring.reserve(static_cast<size_t>(wanted * scale) + n);
  for (size_t i = 0; i < n; ++i) {
    const double exact =
        static_cast<double>(std::max<uint32_t>(vnodes_per_weight, 1)) * weights[i] * scale;
    const auto count = std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(exact)));
    for (uint64_t r = 0; r < count; ++r)
      ring.push_back({hashPair(ids[i], r), ids[i], static_cast<uint32_t>(i)});
  }
  std::sort(ring.begin(), ring.end(), [](const Point& a, const Point& b) {
    return std::pair(a.position, a.id) < std::pair(b.position, b.id);
  });
  points_.reserve(ring.size());
  owners_.reserve(ring.size());
  for (const Point& p : ring) {
    points_.push_back(p.position);
    owners_.push_back(p.owner);
  }
}

std::optional<size_t> RingHash::pick(const PickContext& ctx) {
  const EndpointSet* excluded = ctx.excluded;
  if (excluded != nullptr && excluded->empty()) excluded = nullptr;
  auto eligible = [excluded](size_t i) { return excluded == nullptr || !excluded->test(i); };
  if (!ctx.hash) return sampler_.sample(rng_, eligible);
  const size_t ring_size = points_.size();
  if (ring_size == 0) return std::nullopt;

  const uint64_t key = mix64(*ctx.hash);
  // Branch-light lower_bound: the first point >= key, wrapping to 0 past the end.
  const uint64_t* base = points_.data();
  size_t len = ring_size;
  while (len > 1) {
    const size_t half = len / 2;
    base = base[half - 1] < key ? base + half : base;
    len -= half;
  }
  size_t k = static_cast<size_t>(base - points_.data());
  if (*base < key) ++k;
  if (k == ring_size) k = 0;

  size_t owner = owners_[k];
  if (eligible(owner)) return owner;
  bool any = false;
  for (size_t i = 0; i < size() && !any; ++i) any = eligible(i);
  if (!any) return std::nullopt;
  for (size_t step = 1; step < ring_size; ++step) {
    owner = owners_[(k + step) % ring_size];
    if (eligible(owner)) return owner;
  }
  return std::nullopt;
}

}  // namespace weir::balance
