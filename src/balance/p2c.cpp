#include "balance/p2c.h"

namespace weir::balance {

P2C::P2C(std::vector<int> weights, uint64_t seed, std::vector<uint32_t> max_conns)
    : sampler_(weights),
      rng_(seed),
      in_flight_(weights.size(), 0),
      max_conns_(std::move(max_conns)) {
  max_conns_.resize(weights.size(), 0);
  for (uint32_t m : max_conns_) capped_ = capped_ || m > 0;
}

void P2C::onStart(size_t i) {
  if (i < in_flight_.size()) ++in_flight_[i];
}

void P2C::onFinish(size_t i, std::chrono::microseconds, bool, uint64_t) {
  if (i < in_flight_.size() && in_flight_[i] > 0) --in_flight_[i];
}

template <class Eligible>
std::optional<size_t> P2C::pickAmong(Eligible&& eligible) {
  const std::optional<size_t> first = sampler_.sample(rng_, eligible);
  if (!first) return std::nullopt;
  const size_t a = *first;
  // A second candidate other than a; none when a is the only eligible endpoint.
  const std::optional<size_t> second =
      sampler_.sample(rng_, [&](size_t i) { return i != a && eligible(i); });
  if (!second) return a;
  const size_t b = *second;
  // b wins only when strictly less loaded: in_b / w_b < in_a / w_a.
  return static_cast<double>(in_flight_[b]) * sampler_.weight(a) <
                 static_cast<double>(in_flight_[a]) * sampler_.weight(b)
             ? b
             : a;
}

std::optional<size_t> P2C::pick(const PickContext& ctx) {
  const EndpointSet* excluded = ctx.excluded;
  if (excluded != nullptr && excluded->empty()) excluded = nullptr;
  if (excluded == nullptr && !capped_) return pickAmong([](size_t) { return true; });
  return pickAmong([this, excluded](size_t i) {
    return (max_conns_[i] == 0 || in_flight_[i] < max_conns_[i]) &&
           (excluded == nullptr || !excluded->test(i));
  });
}

}  // namespace weir::balance
