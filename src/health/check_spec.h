// Active HTTP health checks, the pure part: what a probe sends, what counts as a pass, and when
// probes run. The control thread's checker does the I/O and owns the specs (from the config).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace weir::health {

struct HttpCheckSpec {
  std::string method = "GET";
  std::string path = "/healthz";
  std::string host;  // Host header; empty: the server's own host:port
  int status_lo = 200;
  int status_hi = 399;      // a pass needs status_lo <= status <= status_hi
  std::string expect_body;  // when set, the response body must contain it
};

/// "200-399" -> {200, 399}; "204" -> {204, 204}; "2xx" -> {200, 299}. Codes must be 100..599 and
/// lo <= hi; no spaces. Anything else: none.
std::optional<std::pair<int, int>> parseStatusRange(std::string_view text);

/// The probe's bytes: "<method> <path> HTTP/1.1" with Host (spec.host, else default_host),
/// User-Agent: weir-health-check and Connection: close, CRLF line endings, no body. Precondition
/// (checked by config validation): method, path and host hold no whitespace, CR or LF.
std::string buildProbeRequest(const HttpCheckSpec& spec, std::string_view default_host);

/// Status within [status_lo, status_hi] and, when expect_body is set, the body contains it.
bool probePassed(const HttpCheckSpec& spec, int status, std::string_view body);

/// The next probe's delay: interval_ms spread uniformly over
/// [interval * (1 - r), interval * (1 + r)] with r = jitter_ratio clamped to [0, 1] (HAProxy's
/// spread-checks), so probes of many servers drift apart. `random` is any uniform 64-bit value.
uint64_t jitteredDelay(uint64_t interval_ms, double jitter_ratio, uint64_t random);

/// When the first probe of server `index` of `count` runs, relative to start: index * interval /
/// count, so probes spread evenly over one interval instead of all firing at once. count 0 gives
/// 0; index is taken modulo count.
uint64_t initialOffset(size_t index, size_t count, uint64_t interval_ms);

}  // namespace weir::health
