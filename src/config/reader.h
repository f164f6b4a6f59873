// Reader: walks a parsed YAML tree for the config loader. Typed reads record each problem as a
// ConfigError (position and dotted path of the offending node) and carry on, so one pass finds
// every error. One per load, on the loading thread.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace weir::config {

/// A node and where it sits: its dotted path ("upstreams[0].servers[1]") and position.
struct Item {
  YAML::Node node;
  std::string path;
  Position pos;
};

/// The 1-based position of a node; line 0 when yaml-cpp does not know it.
Position positionOf(const YAML::Node& node);

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  void fail(Position pos, std::string path, std::string message);
  void fail(const Item& item, std::string message) {
    fail(item.pos, item.path, std::move(message));
  }

  /// True when `item` is a mapping. Also reports, at the key, each key that is not a string,
  /// repeats an earlier one, or (unless `known` is empty) is not one of `known`; the caller
  /// reads on either way.
  bool mapping(const Item& item, std::initializer_list<std::string_view> known = {});
  /// Every key/value of a mapping that passed mapping(), keys as items of their own.
  std::vector<std::pair<Item, Item>> pairs(const Item& map) const;
  /// The value under `key`; none when absent. For a null value the position is the key's.
  std::optional<Item> optional(const Item& map, std::string_view key) const;
  /// Same, but reports "required key 'k' is missing" at the mapping when absent.
  std::optional<Item> required(const Item& map, std::string_view key);
  /// The entries of `item` when it is a sequence (with at least one entry if `non_empty`).
  std::optional<std::vector<Item>> sequence(const Item& item, bool non_empty);

  std::optional<std::string> string(const Item& item);
  std::optional<std::string> nonEmptyString(const Item& item);
  /// `true` or `false`, else "must be true or false".
  std::optional<bool> boolean(const Item& item);
  /// An integer in min..max, else "must be MIN..MAX, got X".
  std::optional<int64_t> integer(const Item& item, int64_t min, int64_t max);
  /// A duration (see parseDuration), greater than zero unless `allow_zero`.
  std::optional<std::chrono::milliseconds> duration(const Item& item, bool allow_zero = false);
  /// A byte size (see parseSize), at least `min`.
  std::optional<uint64_t> size(const Item& item, uint64_t min = 0);

  /// Field shorthands: read `key` of `map` into `out` when present and valid; else leave it.
  void readDuration(const Item& map, std::string_view key, std::chrono::milliseconds& out,
                    bool allow_zero = false);
  void readSize(const Item& map, std::string_view key, uint64_t& out, uint64_t min = 0);
  template <typename T>
  void readInteger(const Item& map, std::string_view key, int64_t min, int64_t max, T& out) {
    if (auto v = optional(map, key))
      if (auto n = integer(*v, min, max)) out = static_cast<T>(*n);
  }

  bool failed() const { return !errors_.empty(); }
  /// The errors found, in file order.
  std::vector<ConfigError> takeErrors();

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

}  // namespace weir::config
