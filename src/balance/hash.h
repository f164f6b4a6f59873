// Hashing for the balance layer: request keys (hashKey) and ring / table positions. Pure,
// stateless, thread-safe. hashKey() is XXH3-64 (xxHash, inlined: no library to link).
#pragma once

#include <cstdint>
#include <string_view>

namespace weir::balance {

/// 64-bit hash of a request key (a header value, a client address...), to put in
/// PickContext::hash. The same function places endpoints on the RingHash ring, and any
/// process of any version of weir maps the same key the same way.
uint64_t hashKey(std::string_view key);

/// 64-bit hash of two integers, e.g. (endpoint id, replica number). XXH3 over their 16 bytes.
uint64_t hashPair(uint64_t a, uint64_t b);

/// splitmix64's finalizer (Stafford's Mix13): a cheap bijective mixer, so that hashing policies
/// spread even poorly distributed caller hashes (0, 1, 2, ...) over the whole range.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/// Maps a well-mixed 64-bit value to [0, n) without a division (Lemire's multiply-shift).
inline uint64_t fastRange(uint64_t x, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(x) * n) >> 64);
}

}  // namespace weir::balance
