#include "balance/random.h"

namespace weir::balance {

Random::Random(std::vector<int> weights, uint64_t seed) : sampler_(weights), rng_(seed) {}

std::optional<size_t> Random::pick(const PickContext& ctx) {
  const EndpointSet* excluded = ctx.excluded;
  if (excluded == nullptr || excluded->empty())
    return sampler_.sample(rng_, [](size_t) { return true; });
  return sampler_.sample(rng_, [excluded](size_t i) { return !excluded->test(i); });
}

}  // namespace weir::balance
