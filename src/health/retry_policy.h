// Retry policy: when a failed upstream attempt may be tried again on another endpoint, the
// per-upstream retry budget, and the backoff between tries. Pure decision table: the worker's
// ProxyStream gathers the facts, decide() answers. RetryBudget is per upstream per worker, touched
// by that worker's thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace weir::health {

/// Which failures may be retried: a bitmask in RetryConfig::on.
enum class RetryOn : uint32_t {
  ConnectFailure = 1u << 0,  // refused, unreachable, or connect timed out
  Timeout = 1u << 1,         // per-try timeout after the connection was up
  Reset = 1u << 2,           // connection closed or reset before a complete response head
  Status502 = 1u << 3,
  Status503 = 1u << 4,
  Status504 = 1u << 5,
};

constexpr uint32_t mask(RetryOn bit) { return static_cast<uint32_t>(bit); }
constexpr uint32_t operator|(RetryOn a, RetryOn b) {
  return static_cast<uint32_t>(a) | static_cast<uint32_t>(b);
}
constexpr uint32_t operator|(uint32_t a, RetryOn b) { return a | static_cast<uint32_t>(b); }
constexpr bool has(uint32_t mask, RetryOn bit) { return (mask & static_cast<uint32_t>(bit)) != 0; }

/// Network failures only, as nginx's `proxy_next_upstream error timeout`: status codes opt in.
inline constexpr uint32_t kDefaultRetryOn =
    RetryOn::ConnectFailure | RetryOn::Timeout | RetryOn::Reset;

/// "connect_failure", "timeout", "reset", "502", "503", "504"; anything else: none.
std::optional<RetryOn> parseRetryOn(std::string_view name);
/// The config spelling of one bit (inverse of parseRetryOn).
std::string_view retryOnName(RetryOn bit);

struct RetryConfig {
  uint32_t attempts = 2;  // retries after the first try; 0 disables retries
  uint32_t on = kDefaultRetryOn;
  double budget_ratio = 0.2;  // retries in flight, as a share of requests in flight
  uint64_t per_try_timeout_ms = 5000;
  uint64_t backoff_ms = 25;             // base of the jittered exponential backoff; 0: none
  uint64_t max_retry_body = 64 * 1024;  // largest request body kept for replay, bytes
  uint32_t min_retry_concurrency = 3;   // Envoy: retries always allowed up to this many in flight
};

/// How an attempt failed.
enum class Failure : uint8_t { ConnectFailure, Timeout, Reset, Status };

/// What the worker knows about one failed attempt.
struct AttemptFacts {
  Failure failure = Failure::ConnectFailure;
  int status = 0;                   // upstream status when failure == Status
  bool request_bytes_sent = false;  // any byte of the request reached the upstream
  std::string_view method;
  bool has_idempotency_key = false;  // the request carries an Idempotency-Key header
  uint64_t body_bytes = 0;           // request body size (as far as known)
  bool body_buffered = false;        // the whole body is kept for replay
  uint32_t retries_done = 0;         // retries already made for this request
};

/// RFC 9110 9.2.2 idempotent methods: GET HEAD OPTIONS PUT DELETE TRACE (case-sensitive).
bool isIdempotent(std::string_view method);

/// Why an attempt is, or is not, retried. Checked in this order.
enum class RetryVerdict : uint8_t {
  Retry,
  NotConfigured,      // this kind of failure (or this status) is not in `on`
  AttemptsExhausted,  // retries_done >= attempts
  NotSafe,            // request bytes reached the upstream and the request is not idempotent
  BodyNotBuffered,    // safe by method, but the body cannot be replayed (not kept, or too big)
  BudgetExhausted,    // too many retries in flight on this upstream
};
std::string_view retryVerdictName(RetryVerdict verdict);

/// Counts requests and retries in flight on one upstream, in one worker. Envoy's retry budget:
/// a retry is allowed while retries_in_flight < max(min_retry_concurrency,
/// floor(budget_ratio * requests_in_flight)). Call requestStarted/Finished once per downstream
/// request (not per try) and retryStarted/Finished once per retry.
class RetryBudget {
 public:
  void requestStarted() { ++requests_; }
  void requestFinished() { requests_ -= requests_ > 0; }
  void retryStarted() { ++retries_; }
  void retryFinished() { retries_ -= retries_ > 0; }

  bool allows(const RetryConfig& config) const;
  /// max(min_retry_concurrency, floor(budget_ratio * requests in flight)).
  uint64_t limit(const RetryConfig& config) const;

  uint64_t requestsInFlight() const { return requests_; }
  uint64_t retriesInFlight() const { return retries_; }

 private:
  uint64_t requests_ = 0;
  uint64_t retries_ = 0;
};

/// The retry decision table. A retry is safe when nothing of the request reached the upstream,
/// or when the method is idempotent (or an Idempotency-Key is present) and the body is empty or
/// fully buffered within max_retry_body. So a POST whose bytes were sent is never retried.
/// Status failures count only for 502, 503 and 504, each when listed in `on`.
RetryVerdict decide(const RetryConfig& config, const AttemptFacts& facts,
                    const RetryBudget& budget);

/// Delay before retry number `retry_number` (1 for the first retry; 0 acts as 1): exponential
/// backoff with full jitter (AWS architecture blog), uniform in [0, ceiling] where
/// ceiling = min(backoff_ms * 2^(n-1), 10 * backoff_ms). `random` is any uniform 64-bit value.
uint64_t backoffMs(const RetryConfig& config, uint32_t retry_number, uint64_t random);

}  // namespace weir::health
