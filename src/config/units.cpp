#include "config/units.h"

#include <charconv>
#include <limits>
#include <utility>

namespace weir::config {
namespace {

// Splits "123unit" into its number and unit; none when there are no leading digits or the
// number does not fit in 64 bits.
std::optional<std::pair<uint64_t, std::string_view>> splitNumber(std::string_view text) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  return std::pair{n, text.substr(static_cast<size_t>(end - text.data()))};
}

std::optional<uint64_t> multiply(uint64_t n, uint64_t factor, uint64_t max) {
  if (n > max / factor) return std::nullopt;
  return n * factor;
}

}  // namespace

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
  auto parts = splitNumber(text);
  if (!parts) return std::nullopt;
  auto [n, unit] = *parts;
  uint64_t factor = 0;
  if (unit == "ms")
    factor = 1;
  else if (unit == "s")
    factor = 1'000;
  else if (unit == "m")
    factor = 60'000;
  else if (unit == "h")
    factor = 3'600'000;
  else
    return std::nullopt;
  constexpr auto kMax =
      static_cast<uint64_t>(std::numeric_limits<std::chrono::milliseconds::rep>::max());
  auto ms = multiply(n, factor, kMax);
  if (!ms) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(*ms));
}

std::optional<uint64_t> parseSize(std::string_view text) {
  auto parts = splitNumber(text);
  if (!parts) return std::nullopt;
  auto [n, unit] = *parts;
  uint64_t factor = 0;
  if (unit.empty() || unit == "B")
    factor = 1;
  else if (unit == "KiB" || unit == "k" || unit == "K")
    factor = 1ull << 10;
  else if (unit == "MiB" || unit == "m" || unit == "M")
    factor = 1ull << 20;
  else if (unit == "GiB" || unit == "g" || unit == "G")
    factor = 1ull << 30;
  else
    return std::nullopt;
  return multiply(n, factor, std::numeric_limits<uint64_t>::max());
}

}  // namespace weir::config
