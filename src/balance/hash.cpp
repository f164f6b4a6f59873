#include "balance/hash.h"

// Header-only xxHash: no link dependency for weir_balance.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace weir::balance {

uint64_t hashKey(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

uint64_t hashPair(uint64_t a, uint64_t b) {
  const uint64_t words[2] = {a, b};
  return XXH3_64bits(words, sizeof(words));
}

}  // namespace weir::balance
