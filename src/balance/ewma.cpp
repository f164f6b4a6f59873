#include "balance/ewma.h"

#include <algorithm>
#include <cmath>

namespace weir::balance {

Ewma::Ewma(std::vector<int> weights, uint64_t seed, std::vector<uint32_t> max_conns,
           std::chrono::milliseconds decay)
    : sampler_(weights),
      rng_(seed),
      endpoints_(weights.size()),
      decay_ms_(std::max<double>(1.0, static_cast<double>(decay.count()))) {
  for (size_t i = 0; i < max_conns.size() && i < endpoints_.size(); ++i) {
    endpoints_[i].max_conns = max_conns[i];
    capped_ = capped_ || max_conns[i] > 0;
  }
}

double Ewma::decayFactor(uint64_t from_ms, uint64_t to_ms) const {
  if (to_ms <= from_ms) return 1.0;
  return std::exp(-static_cast<double>(to_ms - from_ms) / decay_ms_);
}

double Ewma::estimateMicros(size_t i, uint64_t now_ms) const {
  const Endpoint& e = endpoints_[i];
  if (!e.sampled) return neutral_us_;
  return e.estimate_us * decayFactor(e.stamp_ms, now_ms);
}

double Ewma::cost(size_t i, uint64_t now_ms) const {
  return estimateMicros(i, now_ms) * (1.0 + endpoints_[i].in_flight / sampler_.weight(i));
}

void Ewma::onStart(size_t i) {
  if (i < endpoints_.size()) ++endpoints_[i].in_flight;
}

void Ewma::onFinish(size_t i, std::chrono::microseconds latency, bool ok, uint64_t now_ms) {
  if (i >= endpoints_.size()) return;
  Endpoint& e = endpoints_[i];
  if (e.in_flight > 0) --e.in_flight;
  double rtt = static_cast<double>(std::max<int64_t>(latency.count(), 0));
  if (!e.sampled) {
    e.estimate_us = std::max(rtt, ok ? 0.0 : neutral_us_);
    e.sampled = true;
  } else if (rtt > e.estimate_us || !ok) {
    e.estimate_us = std::max(rtt, e.estimate_us);  // peak: jump up at once
  } else {
    const double w = decayFactor(e.stamp_ms, now_ms);
    e.estimate_us = e.estimate_us * w + rtt * (1.0 - w);
  }
  e.stamp_ms = std::max(e.stamp_ms, now_ms);

  if (!ok) return;  // the neutral score follows successful responses only
  if (!neutral_sampled_) {
    neutral_us_ = rtt;
    neutral_sampled_ = true;
  } else {
    const double w = decayFactor(neutral_stamp_ms_, now_ms);
    neutral_us_ = neutral_us_ * w + rtt * (1.0 - w);
  }
  neutral_stamp_ms_ = std::max(neutral_stamp_ms_, now_ms);
}

template <class Eligible>
std::optional<size_t> Ewma::pickAmong(uint64_t now_ms, Eligible&& eligible) {
  const std::optional<size_t> first = sampler_.sample(rng_, eligible);
  if (!first) return std::nullopt;
  const size_t a = *first;
  // A second candidate other than a; none when a is the only eligible endpoint.
  const std::optional<size_t> b =
      sampler_.sample(rng_, [&](size_t i) { return i != a && eligible(i); });
  if (!b) return a;
  return cost(*b, now_ms) < cost(a, now_ms) ? *b : a;
}

std::optional<size_t> Ewma::pick(const PickContext& ctx) {
  const EndpointSet* excluded = ctx.excluded;
  if (excluded != nullptr && excluded->empty()) excluded = nullptr;
  if (excluded == nullptr && !capped_) return pickAmong(ctx.now_ms, [](size_t) { return true; });
  return pickAmong(ctx.now_ms, [this, excluded](size_t i) {
    const Endpoint& e = endpoints_[i];
    return (e.max_conns == 0 || e.in_flight < e.max_conns) &&
           (excluded == nullptr || !excluded->test(i));
  });
}

}  // namespace weir::balance
