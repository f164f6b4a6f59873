#include "health/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace weir::health {
namespace {

constexpr std::pair<RetryOn, std::string_view> kNames[] = {
    {RetryOn::ConnectFailure, "connect_failure"},
    {RetryOn::Timeout, "timeout"},
    {RetryOn::Reset, "reset"},
    {RetryOn::Status502, "502"},
    {RetryOn::Status503, "503"},
    {RetryOn::Status504, "504"},
};

std::optional<RetryOn> bitFor(const AttemptFacts& facts) {
  switch (facts.failure) {
    case Failure::ConnectFailure:
      return RetryOn::ConnectFailure;
    case Failure::Timeout:
      return RetryOn::Timeout;
    case Failure::Reset:
      return RetryOn::Reset;
    case Failure::Status:
      switch (facts.status) {
        case 502:
          return RetryOn::Status502;
        case 503:
          return RetryOn::Status503;
        case 504:
          return RetryOn::Status504;
        default:
          return std::nullopt;
      }
  }
  return std::nullopt;
}

}  // namespace

std::optional<RetryOn> parseRetryOn(std::string_view name) {
  for (const auto& [bit, spelling] : kNames) {
    if (name == spelling) return bit;
  }
  return std::nullopt;
}

std::string_view retryOnName(RetryOn bit) {
  for (const auto& [b, spelling] : kNames) {
    if (b == bit) return spelling;
  }
  return "?";
}

bool isIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
         method == "DELETE" || method == "TRACE";
}

std::string_view retryVerdictName(RetryVerdict verdict) {
  switch (verdict) {
    case RetryVerdict::Retry:
      return "retry";
    case RetryVerdict::NotConfigured:
      return "not_configured";
    case RetryVerdict::AttemptsExhausted:
      return "attempts_exhausted";
    case RetryVerdict::NotSafe:
      return "not_safe";
    case RetryVerdict::BodyNotBuffered:
      return "body_not_buffered";
    case RetryVerdict::BudgetExhausted:
      return "budget_exhausted";
  }
  return "?";
}

uint64_t RetryBudget::limit(const RetryConfig& config) const {
  const double ratio = std::isnan(config.budget_ratio) ? 0.0 : std::max(config.budget_ratio, 0.0);
  const double share = std::floor(ratio * static_cast<double>(requests_));
  const uint64_t by_ratio = share >= 1.8e19 ? UINT64_MAX : static_cast<uint64_t>(share);
  return std::max<uint64_t>(config.min_retry_concurrency, by_ratio);
}

bool RetryBudget::allows(const RetryConfig& config) const { return retries_ < limit(config); }

RetryVerdict decide(const RetryConfig& config, const AttemptFacts& facts,
                    const RetryBudget& budget) {
  const std::optional<RetryOn> bit = bitFor(facts);
  if (!bit || !has(config.on, *bit)) return RetryVerdict::NotConfigured;
  if (facts.retries_done >= config.attempts) return RetryVerdict::AttemptsExhausted;
  if (facts.request_bytes_sent) {
    // The upstream may have acted on it: only a request that may be repeated, with its body.
    if (!isIdempotent(facts.method) && !facts.has_idempotency_key) return RetryVerdict::NotSafe;
    if (facts.body_bytes > 0 &&
        (!facts.body_buffered || facts.body_bytes > config.max_retry_body)) {
      return RetryVerdict::BodyNotBuffered;
    }
  }
  if (!budget.allows(config)) return RetryVerdict::BudgetExhausted;
  return RetryVerdict::Retry;
}

uint64_t backoffMs(const RetryConfig& config, uint32_t retry_number, uint64_t random) {
  const uint64_t base = config.backoff_ms;
  if (base == 0) return 0;
  const uint64_t cap = base > UINT64_MAX / 10 ? UINT64_MAX : base * 10;
  uint64_t ceiling = base;
  for (uint32_t k = 1; k < retry_number && ceiling < cap; ++k) {
    ceiling = ceiling > UINT64_MAX / 2 ? UINT64_MAX : ceiling * 2;
  }
  ceiling = std::min(ceiling, cap);
  if (ceiling == UINT64_MAX) return random;
  return random % (ceiling + 1);
}

}  // namespace weir::health
