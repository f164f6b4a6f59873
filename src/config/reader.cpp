#include "config/reader.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "config/units.h"

namespace weir::config {
namespace {

std::string childPath(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Position positionOf(const YAML::Node& node) {
  YAML::Mark m = node.Mark();
  if (m.is_null() || m.line < 0) return {};
  return {m.line + 1, m.column + 1};
}

void Reader::fail(Position pos, std::string path, std::string message) {
  errors_.push_back(ConfigError{file_, pos, std::move(path), std::move(message)});
}

bool Reader::mapping(const Item& item, std::initializer_list<std::string_view> known) {
  if (!item.node.IsMap()) {
    fail(item, "must be a mapping");
    return false;
  }
  std::set<std::string> seen;
  for (auto& [key, value] : pairs(item)) {
    if (!key.node.IsScalar()) {
      fail(key, "key must be a string");
    } else if (!seen.insert(key.node.Scalar()).second) {
      fail(key, "duplicate key");
    } else if (known.size() != 0 &&
               std::find(known.begin(), known.end(), key.node.Scalar()) == known.end()) {
      fail(key, "unknown key");
    }
  }
  return true;
}

std::vector<std::pair<Item, Item>> Reader::pairs(const Item& map) const {
  std::vector<std::pair<Item, Item>> out;
  for (auto it = map.node.begin(); it != map.node.end(); ++it) {
    std::string path = childPath(map.path, it->first.IsScalar() ? it->first.Scalar() : "?");
    Position key_pos = positionOf(it->first);
    // yaml-cpp marks a null value at the token after it; the key is the better place.
    Position value_pos = it->second.IsNull() ? key_pos : positionOf(it->second);
    out.emplace_back(Item{it->first, path, key_pos}, Item{it->second, path, value_pos});
  }
  return out;
}

std::optional<Item> Reader::optional(const Item& map, std::string_view key) const {
  if (!map.node.IsMap()) return std::nullopt;
  for (auto& [k, v] : pairs(map))
    if (k.node.IsScalar() && k.node.Scalar() == key) return v;
  return std::nullopt;
}

std::optional<Item> Reader::required(const Item& map, std::string_view key) {
  auto v = optional(map, key);
  if (!v) fail(map, "required key '" + std::string(key) + "' is missing");
  return v;
}

std::optional<std::vector<Item>> Reader::sequence(const Item& item, bool non_empty) {
  if (!item.node.IsSequence()) {
    fail(item, "must be a sequence");
    return std::nullopt;
  }
  if (non_empty && item.node.size() == 0) {
    fail(item, "must have at least one entry");
    return std::nullopt;
  }
  std::vector<Item> out;
  size_t i = 0;
  for (const YAML::Node& entry : item.node) {
    // yaml-cpp marks a null entry at the token after it; the sequence is the better place.
    Position pos = entry.IsNull() ? item.pos : positionOf(entry);
    out.push_back(Item{entry, item.path + "[" + std::to_string(i++) + "]", pos});
  }
  return out;
}

std::optional<std::string> Reader::string(const Item& item) {
  if (!item.node.IsScalar()) {
    fail(item, "must be a string");
    return std::nullopt;
  }
  return item.node.Scalar();
}

std::optional<std::string> Reader::nonEmptyString(const Item& item) {
  auto s = string(item);
  if (s && s->empty()) {
    fail(item, "must not be empty");
    return std::nullopt;
  }
  return s;
}

std::optional<bool> Reader::boolean(const Item& item) {
  if (item.node.IsScalar()) {
    if (item.node.Scalar() == "true") return true;
    if (item.node.Scalar() == "false") return false;
    fail(item, "must be true or false, got '" + item.node.Scalar() + "'");
    return std::nullopt;
  }
  fail(item, "must be true or false");
  return std::nullopt;
}

std::optional<int64_t> Reader::integer(const Item& item, int64_t min, int64_t max) {
  if (!item.node.IsScalar()) {
    fail(item, "must be an integer");
    return std::nullopt;
  }
  const std::string& s = item.node.Scalar();
  int64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  bool whole = !s.empty() && end == s.data() + s.size();
  if (ec == std::errc::invalid_argument || !whole) {
    fail(item, "must be an integer, got '" + s + "'");
    return std::nullopt;
  }
  if (ec == std::errc::result_out_of_range || n < min || n > max) {
    fail(item, "must be " + std::to_string(min) + ".." + std::to_string(max) + ", got " + s);
    return std::nullopt;
  }
  return n;
}

std::optional<std::chrono::milliseconds> Reader::duration(const Item& item, bool allow_zero) {
  if (!item.node.IsScalar()) {
    fail(item, "must be a duration");
    return std::nullopt;
  }
  const std::string& s = item.node.Scalar();
  auto d = parseDuration(s);
  if (!d && allDigits(s)) {
    fail(item, "needs a unit (ms, s, m, h)");
  } else if (!d) {
    fail(item, "must be a duration like 500ms, 2s, 1m or 1h, got '" + s + "'");
  } else if (!allow_zero && d->count() == 0) {
    fail(item, "must be greater than 0");
    return std::nullopt;
  }
  return d;
}

std::optional<uint64_t> Reader::size(const Item& item, uint64_t min) {
  if (!item.node.IsScalar()) {
    fail(item, "must be a size");
    return std::nullopt;
  }
  const std::string& s = item.node.Scalar();
  auto n = parseSize(s);
  if (!n) {
    fail(item, "must be a size like 512, 16KiB, 10MiB or 1GiB, got '" + s + "'");
  } else if (*n < min) {
    fail(item, "must be at least " + std::to_string(min) + " bytes, got " + s);
    return std::nullopt;
  }
  return n;
}

void Reader::readDuration(const Item& map, std::string_view key, std::chrono::milliseconds& out,
                          bool allow_zero) {
  if (auto v = optional(map, key))
    if (auto d = duration(*v, allow_zero)) out = *d;
}

void Reader::readSize(const Item& map, std::string_view key, uint64_t& out, uint64_t min) {
  if (auto v = optional(map, key))
    if (auto n = size(*v, min)) out = *n;
}

std::vector<ConfigError> Reader::takeErrors() {
  sortInFileOrder(errors_);
  return std::move(errors_);
}

}  // namespace weir::config
