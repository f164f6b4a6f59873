// StringIndex: an immutable open-addressing hash map from strings to small values, for
// RouteTable's host and path lookups: one flat array of slots holding each key's full hash, so a
// miss usually costs one cache line. Hashes are FNV-1a and can be extended a byte at a time,
// which lets a caller probe every prefix of a path while hashing it once. Built once; lookups
// allocate nothing and are safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weir::routing {

/// FNV-1a, optionally over the ASCII-lower-cased bytes.
struct StringHash {
  static constexpr uint64_t kSeed = 14695981039346656037ull;
  static uint64_t extend(uint64_t h, char c, bool fold_case) {
    if (fold_case && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  }
  static uint64_t of(std::string_view s, bool fold_case) {
    uint64_t h = kSeed;
    for (char c : s) h = extend(h, c, fold_case);
    return h;
  }
};

template <typename V>
class StringIndex {
 public:
  StringIndex() = default;
  /// Keys are unique. With `fold_case`, keys compare ASCII case-insensitively.
  StringIndex(const std::vector<std::pair<std::string, V>>& entries, bool fold_case)
      : fold_case_(fold_case) {
    size_t capacity = 4;
    while (capacity < entries.size() * 2) capacity *= 2;  // load factor at most 1/2
    slots_.resize(capacity);
    mask_ = capacity - 1;
    for (const auto& [key, value] : entries) {
      const uint64_t h = StringHash::of(key, fold_case);
      size_t i = mix(h) & mask_;
      while (slots_[i].used) i = (i + 1) & mask_;
      slots_[i] = Slot{h, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(key.size()),
                       true, value};
      for (char c : key)
        keys_ += fold_case && c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
    size_ = entries.size();
  }

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  bool foldsCase() const { return fold_case_; }

  /// The value for `key`, whose StringHash (with this index's case folding) is `hash`.
  const V* find(std::string_view key, uint64_t hash) const {
    if (size_ == 0) return nullptr;
    for (size_t i = mix(hash) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.hash == hash && s.key_size == key.size() &&
          same(std::string_view(keys_).substr(s.key_begin, s.key_size), key))
        return &s.value;
    }
  }
  const V* find(std::string_view key) const { return find(key, StringHash::of(key, fold_case_)); }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t key_begin = 0;
    uint32_t key_size = 0;
    bool used = false;
    V value{};
  };

  // FNV-1a's low bits are weak; fold the high ones in before masking.
  static size_t mix(uint64_t h) { return static_cast<size_t>(h ^ (h >> 29) ^ (h >> 47)); }

  bool same(std::string_view stored, std::string_view key) const {
    if (!fold_case_) return stored == key;
    for (size_t i = 0; i < key.size(); ++i) {
      char c = key[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (stored[i] != c) return false;  // stored keys are lower-case
    }
    return true;
  }

  std::vector<Slot> slots_;
  std::string keys_;  // every key, back to back
  size_t mask_ = 0;
  size_t size_ = 0;
  bool fold_case_ = false;
};

}  // namespace weir::routing
