#include "balance/maglev.h"

#include <algorithm>

#include "balance/hash.h"

namespace weir::balance {
namespace {

bool isPrime(uint64_t n) {
  if (n < 2) return false;
  for (uint64_t d = 2; d * d <= n; ++d)
    if (n % d == 0) return false;
  return true;
}

uint64_t nextPrime(uint64_t n) {
  while (!isPrime(n)) ++n;
  return n;
}

}  // namespace

Maglev::Maglev(std::vector<int> weights, std::vector<uint64_t> ids, uint64_t seed,
               size_t table_size)
    : sampler_(weights), rng_(seed) {
  const size_t n = weights.size();
  if (n == 0) return;
  for (size_t i = ids.size(); i < n; ++i) ids.push_back(i);
  const uint64_t m = nextPrime(std::max<uint64_t>(table_size, 2));
  constexpr uint32_t kFree = UINT32_MAX;
  table_.assign(m, kFree);

  struct Builder {
    uint64_t offset, skip, next = 0;  // slot of the j-th choice: (offset + j * skip) % m
    uint64_t target = 0;              // takes a turn when iteration * weight >= target
  };
  std::vector<Builder> builders(n);
  for (size_t i = 0; i < n; ++i) {
    builders[i].offset = hashPair(ids[i], 0x6d61676c65763031ULL) % m;  // "maglev01"
    builders[i].skip = hashPair(ids[i], 0x6d61676c65763032ULL) % (m - 1) + 1;
  }
  const uint64_t max_weight =
      static_cast<uint64_t>(*std::max_element(weights.begin(), weights.end()));
  uint64_t filled = 0;
  for (uint64_t iteration = 1; filled < m; ++iteration) {
    for (size_t i = 0; i < n && filled < m; ++i) {
      Builder& b = builders[i];
      if (iteration * static_cast<uint64_t>(weights[i]) < b.target) continue;
      b.target += max_weight;
      uint64_t slot = (b.offset + b.next * b.skip) % m;
      while (table_[slot] != kFree) slot = (b.offset + ++b.next * b.skip) % m;
      table_[slot] = static_cast<uint32_t>(i);
      ++b.next;
      ++filled;
    }
  }
}

std::optional<size_t> Maglev::pick(const PickContext& ctx) {
  const EndpointSet* excluded = ctx.excluded;
  if (excluded != nullptr && excluded->empty()) excluded = nullptr;
  auto eligible = [excluded](size_t i) { return excluded == nullptr || !excluded->test(i); };
  if (!ctx.hash) return sampler_.sample(rng_, eligible);
  const uint64_t m = table_.size();
  if (m == 0) return std::nullopt;

  uint64_t key = mix64(*ctx.hash);
  uint64_t slot = fastRange(key, m);
  if (eligible(table_[slot])) return table_[slot];
  for (int attempt = 0; attempt < kRehashTries; ++attempt) {
    key = mix64(key + 0x9e3779b97f4a7c15ULL);
    slot = fastRange(key, m);
    if (eligible(table_[slot])) return table_[slot];
  }
  bool any = false;
  for (size_t i = 0; i < size() && !any; ++i) any = eligible(i);
  if (!any) return std::nullopt;
  for (uint64_t step = 1; step < m; ++step) {
    const uint32_t owner = table_[(slot + step) % m];
    if (eligible(owner)) return owner;
  }
  return std::nullopt;  // the eligible endpoints own no slot (table smaller than the cluster)
}

}  // namespace weir::balance
