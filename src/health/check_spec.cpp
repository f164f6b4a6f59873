#include "health/check_spec.h"

#include <algorithm>
#include <cmath>

namespace weir::health {
namespace {

std::optional<int> parseCode(std::string_view s) {
  if (s.size() != 3) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v < 100 || v > 599) return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::pair<int, int>> parseStatusRange(std::string_view text) {
  if (text.size() == 3 && text[0] >= '1' && text[0] <= '5' && (text[1] == 'x' || text[1] == 'X') &&
      (text[2] == 'x' || text[2] == 'X')) {
    const int lo = (text[0] - '0') * 100;
    return std::pair{lo, lo + 99};
  }
  const size_t dash = text.find('-');
  if (dash == std::string_view::npos) {
    auto code = parseCode(text);
    if (!code) return std::nullopt;
    return std::pair{*code, *code};
  }
  auto lo = parseCode(text.substr(0, dash));
  auto hi = parseCode(text.substr(dash + 1));
  if (!lo || !hi || *lo > *hi) return std::nullopt;
  return std::pair{*lo, *hi};
}

std::string buildProbeRequest(const HttpCheckSpec& spec, std::string_view default_host) {
  const std::string_view host = spec.host.empty() ? default_host : std::string_view(spec.host);
  std::string out;
  out.reserve(96 + spec.method.size() + spec.path.size() + host.size());
  out += spec.method;
  out += ' ';
  out += spec.path.empty() ? std::string_view("/") : std::string_view(spec.path);
  out += " HTTP/1.1\r\nHost: ";
  out += host;
  out += "\r\nUser-Agent: weir-health-check\r\nConnection: close\r\n\r\n";
  return out;
}

bool probePassed(const HttpCheckSpec& spec, int status, std::string_view body) {
  if (status < spec.status_lo || status > spec.status_hi) return false;
  return spec.expect_body.empty() || body.find(spec.expect_body) != std::string_view::npos;
}

uint64_t jitteredDelay(uint64_t interval_ms, double jitter_ratio, uint64_t random) {
  const double r = std::isnan(jitter_ratio) ? 0.0 : std::clamp(jitter_ratio, 0.0, 1.0);
  // spread <= min(interval, 2^62): 2 * spread + 1 cannot overflow; the sum saturates.
  const double product = std::floor(static_cast<double>(interval_ms) * r);
  constexpr uint64_t kMaxSpread = UINT64_MAX / 4;
  uint64_t spread =
      product >= static_cast<double>(kMaxSpread) ? kMaxSpread : static_cast<uint64_t>(product);
  spread = std::min(spread, interval_ms);
  const uint64_t lo = interval_ms - spread;
  const uint64_t width = 2 * spread + 1;
  const uint64_t offset = random % width;
  return lo > UINT64_MAX - offset ? UINT64_MAX : lo + offset;
}

uint64_t initialOffset(size_t index, size_t count, uint64_t interval_ms) {
  if (count == 0) return 0;
  const unsigned __int128 i = index % count;
  return static_cast<uint64_t>(i * interval_ms / count);
}

}  // namespace weir::health
