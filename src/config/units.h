// Parsers for the units config values are written in: durations ("500ms", "2s") and byte
// sizes ("16KiB", "10m"). Pure functions, any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace weir::config {

/// A non-negative integer followed by a unit: `ms`, `s`, `m` (minutes) or `h`, e.g. "500ms",
/// "2s". No spaces, signs, fractions, or bare numbers. None on any other text or on overflow.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);

/// A non-negative integer of bytes, optionally followed by `B`, `KiB`, `MiB`, `GiB`, or the
/// nginx-style `k`/`K`, `m`/`M`, `g`/`G` (all 1024-based). None on any other text or overflow.
std::optional<uint64_t> parseSize(std::string_view text);

}  // namespace weir::config
