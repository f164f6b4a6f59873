#include "health/retry_policy.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace weir::health {
namespace {

constexpr uint32_t kAll = RetryOn::ConnectFailure | RetryOn::Timeout | RetryOn::Reset |
                          RetryOn::Status502 | RetryOn::Status503 | RetryOn::Status504;

TEST(RetryOnParse, AcceptsEveryConfigSpelling) {
  EXPECT_EQ(parseRetryOn("connect_failure"), RetryOn::ConnectFailure);
  EXPECT_EQ(parseRetryOn("timeout"), RetryOn::Timeout);
  EXPECT_EQ(parseRetryOn("reset"), RetryOn::Reset);
  EXPECT_EQ(parseRetryOn("502"), RetryOn::Status502);
  EXPECT_EQ(parseRetryOn("503"), RetryOn::Status503);
  EXPECT_EQ(parseRetryOn("504"), RetryOn::Status504);
  for (RetryOn bit : {RetryOn::ConnectFailure, RetryOn::Timeout, RetryOn::Reset, RetryOn::Status502,
                      RetryOn::Status503, RetryOn::Status504}) {
    EXPECT_EQ(parseRetryOn(retryOnName(bit)), bit);
  }
}

TEST(RetryOnParse, RejectsAnythingElse) {
  for (const char* s :
       {"", "500", "5xx", "Timeout", "connect-failure", " reset", "reset ", "all"}) {
    EXPECT_FALSE(parseRetryOn(s)) << '"' << s << '"';
  }
}

TEST(RetryOnParse, BitsAreDistinctAndComposeIntoAMask) {
  EXPECT_EQ(__builtin_popcount(kAll), 6);
  EXPECT_TRUE(has(kDefaultRetryOn, RetryOn::ConnectFailure));
  EXPECT_TRUE(has(kDefaultRetryOn, RetryOn::Timeout));
  EXPECT_TRUE(has(kDefaultRetryOn, RetryOn::Reset));
  EXPECT_FALSE(has(kDefaultRetryOn, RetryOn::Status502));
  EXPECT_FALSE(has(kDefaultRetryOn, RetryOn::Status503));
  EXPECT_FALSE(has(kDefaultRetryOn, RetryOn::Status504));
  EXPECT_EQ(RetryConfig{}.on, kDefaultRetryOn);
}

TEST(RetryIdempotent, FollowsRfc9110) {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}) {
    EXPECT_TRUE(isIdempotent(m)) << m;
  }
  for (const char* m : {"POST", "PATCH", "CONNECT", "get", "", "GETX", "PROPFIND"}) {
    EXPECT_FALSE(isIdempotent(m)) << m;
  }
}

struct Case {
  const char* name;
  uint32_t on;
  AttemptFacts facts;
  RetryVerdict expected;
  uint32_t retries_in_flight = 0;
};

AttemptFacts sentGet() { return {Failure::Reset, 0, true, "GET", false, 0, false, 0}; }
AttemptFacts with(AttemptFacts f, auto&& edit) {
  edit(f);
  return f;
}

TEST(RetryDecision, TableCoversEveryVerdict) {
  const AttemptFacts connect_post{
      Failure::ConnectFailure, 0, false, "POST", false, 1 << 20, false, 0};
  const std::vector<Case> cases = {
      // Retry
      {"connect failure, nothing sent, POST with unbuffered body", kAll, connect_post,
       RetryVerdict::Retry},
      {"connect timeout, nothing sent", kAll,
       with(connect_post, [](auto& f) { f.failure = Failure::Timeout; }), RetryVerdict::Retry},
      {"reset before sending a POST", kAll,
       with(connect_post, [](auto& f) { f.failure = Failure::Reset; }), RetryVerdict::Retry},
      {"reset after sending a GET", kAll, sentGet(), RetryVerdict::Retry},
      {"timeout after sending a PUT with a buffered body", kAll,
       with(sentGet(),
            [](auto& f) {
              f.failure = Failure::Timeout;
              f.method = "PUT";
              f.body_bytes = 1000;
              f.body_buffered = true;
            }),
       RetryVerdict::Retry},
      {"POST with Idempotency-Key and no body", kAll,
       with(sentGet(),
            [](auto& f) {
              f.method = "POST";
              f.has_idempotency_key = true;
            }),
       RetryVerdict::Retry},
      {"POST with Idempotency-Key and a buffered body at the limit", kAll,
       with(sentGet(),
            [](auto& f) {
              f.method = "POST";
              f.has_idempotency_key = true;
              f.body_bytes = 64 * 1024;
              f.body_buffered = true;
            }),
       RetryVerdict::Retry},
      {"502 on GET", kAll,
       with(sentGet(), [](auto& f) { f.failure = Failure::Status, f.status = 502; }),
       RetryVerdict::Retry},
      {"503 on HEAD", kAll,
       with(sentGet(),
            [](auto& f) {
              f.failure = Failure::Status, f.status = 503;
              f.method = "HEAD";
            }),
       RetryVerdict::Retry},
      {"504 on DELETE", kAll,
       with(sentGet(),
            [](auto& f) {
              f.failure = Failure::Status, f.status = 504;
              f.method = "DELETE";
            }),
       RetryVerdict::Retry},
      {"last allowed retry", kAll, with(sentGet(), [](auto& f) { f.retries_done = 1; }),
       RetryVerdict::Retry},
      {"budget: below min_retry_concurrency", kAll, sentGet(), RetryVerdict::Retry, 2},
      // NotConfigured
      {"connect failure not listed", 0, connect_post, RetryVerdict::NotConfigured},
      {"timeout not listed", RetryOn::ConnectFailure | RetryOn::Reset,
       with(sentGet(), [](auto& f) { f.failure = Failure::Timeout; }), RetryVerdict::NotConfigured},
      {"reset not listed", RetryOn::ConnectFailure | RetryOn::Timeout, sentGet(),
       RetryVerdict::NotConfigured},
      {"502 not listed by default", kDefaultRetryOn,
       with(sentGet(), [](auto& f) { f.failure = Failure::Status, f.status = 502; }),
       RetryVerdict::NotConfigured},
      {"503 listed but got 504", kDefaultRetryOn | RetryOn::Status503,
       with(sentGet(), [](auto& f) { f.failure = Failure::Status, f.status = 504; }),
       RetryVerdict::NotConfigured},
      {"500 is never retried", kAll,
       with(sentGet(), [](auto& f) { f.failure = Failure::Status, f.status = 500; }),
       RetryVerdict::NotConfigured},
      {"200 is not a failure", kAll,
       with(sentGet(), [](auto& f) { f.failure = Failure::Status, f.status = 200; }),
       RetryVerdict::NotConfigured},
      // AttemptsExhausted
      {"two retries done", kAll, with(sentGet(), [](auto& f) { f.retries_done = 2; }),
       RetryVerdict::AttemptsExhausted},
      {"exhausted even when nothing was sent", kAll,
       with(connect_post, [](auto& f) { f.retries_done = 7; }), RetryVerdict::AttemptsExhausted},
      // NotSafe
      {"POST whose bytes were sent", kAll, with(sentGet(), [](auto& f) { f.method = "POST"; }),
       RetryVerdict::NotSafe},
      {"PATCH whose bytes were sent", kAll, with(sentGet(), [](auto& f) { f.method = "PATCH"; }),
       RetryVerdict::NotSafe},
      {"POST with a buffered body is still unsafe", kAll,
       with(sentGet(),
            [](auto& f) {
              f.method = "POST";
              f.body_bytes = 10;
              f.body_buffered = true;
            }),
       RetryVerdict::NotSafe},
      {"503 on POST", kAll,
       with(sentGet(),
            [](auto& f) {
              f.failure = Failure::Status, f.status = 503;
              f.method = "POST";
            }),
       RetryVerdict::NotSafe},
      {"timeout on POST after sending", kAll,
       with(sentGet(),
            [](auto& f) {
              f.failure = Failure::Timeout;
              f.method = "POST";
            }),
       RetryVerdict::NotSafe},
      // BodyNotBuffered
      {"PUT whose streamed body was not kept", kAll,
       with(sentGet(),
            [](auto& f) {
              f.method = "PUT";
              f.body_bytes = 100;
            }),
       RetryVerdict::BodyNotBuffered},
      {"PUT body above max_retry_body", kAll,
       with(sentGet(),
            [](auto& f) {
              f.method = "PUT";
              f.body_bytes = 64 * 1024 + 1;
              f.body_buffered = true;
            }),
       RetryVerdict::BodyNotBuffered},
      {"POST with key and unbuffered body", kAll,
       with(sentGet(),
            [](auto& f) {
              f.method = "POST";
              f.has_idempotency_key = true;
              f.body_bytes = 5;
            }),
       RetryVerdict::BodyNotBuffered},
      // BudgetExhausted
      {"budget: min_retry_concurrency retries already in flight", kAll, sentGet(),
       RetryVerdict::BudgetExhausted, 3},
      {"budget applies to connect failures too", kAll, connect_post, RetryVerdict::BudgetExhausted,
       3},
  };

  std::set<RetryVerdict> seen;
  const RetryConfig base;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RetryConfig cfg = base;
    cfg.on = c.on;
    RetryBudget budget;
    budget.requestStarted();
    for (uint32_t k = 0; k < c.retries_in_flight; ++k) budget.retryStarted();
    const RetryVerdict got = decide(cfg, c.facts, budget);
    EXPECT_EQ(got, c.expected) << "got " << retryVerdictName(got) << ", expected "
                               << retryVerdictName(c.expected);
    seen.insert(c.expected);
  }
  EXPECT_EQ(seen.size(), 6u) << "the table must exercise every verdict";
}

TEST(RetryDecision, VerdictsAreCheckedInOrder) {
  RetryConfig cfg;
  cfg.on = mask(RetryOn::ConnectFailure);
  RetryBudget full;
  for (int i = 0; i < 10; ++i) full.retryStarted();
  AttemptFacts f{Failure::Reset, 0, true, "POST", false, 10, false, 9};
  EXPECT_EQ(decide(cfg, f, full), RetryVerdict::NotConfigured);
  cfg.on = kAll;
  EXPECT_EQ(decide(cfg, f, full), RetryVerdict::AttemptsExhausted);
  f.retries_done = 0;
  EXPECT_EQ(decide(cfg, f, full), RetryVerdict::NotSafe);
  f.method = "PUT";
  EXPECT_EQ(decide(cfg, f, full), RetryVerdict::BodyNotBuffered);
  f.body_buffered = true;
  EXPECT_EQ(decide(cfg, f, full), RetryVerdict::BudgetExhausted);
  EXPECT_EQ(decide(cfg, f, RetryBudget{}), RetryVerdict::Retry);
}

TEST(RetryDecision, ZeroAttemptsNeverRetries) {
  RetryConfig cfg;
  cfg.attempts = 0;
  const AttemptFacts f{Failure::ConnectFailure, 0, false, "GET", false, 0, false, 0};
  EXPECT_EQ(decide(cfg, f, RetryBudget{}), RetryVerdict::AttemptsExhausted);
}

TEST(RetryDecision, VerdictNamesAreDistinct) {
  std::set<std::string_view> names;
  for (auto v :
       {RetryVerdict::Retry, RetryVerdict::NotConfigured, RetryVerdict::AttemptsExhausted,
        RetryVerdict::NotSafe, RetryVerdict::BodyNotBuffered, RetryVerdict::BudgetExhausted}) {
    names.insert(retryVerdictName(v));
  }
  EXPECT_EQ(names.size(), 6u);
}

TEST(RetryBudget, AllowsMinRetryConcurrencyWithFewRequests) {
  RetryConfig cfg;  // ratio 0.2, min 3
  RetryBudget b;
  EXPECT_EQ(b.limit(cfg), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(b.allows(cfg)) << i;
    b.retryStarted();
  }
  EXPECT_FALSE(b.allows(cfg));
  b.retryFinished();
  EXPECT_TRUE(b.allows(cfg));
}

TEST(RetryBudget, ScalesWithRequestsInFlight) {
  RetryConfig cfg;
  RetryBudget b;
  const std::pair<int, uint64_t> expectations[] = {{0, 3},  {10, 3}, {19, 3},   {20, 4},
                                                   {24, 4}, {25, 5}, {100, 20}, {1000, 200}};
  int started = 0;
  for (auto [requests, limit] : expectations) {
    while (started < requests) {
      b.requestStarted();
      ++started;
    }
    EXPECT_EQ(b.limit(cfg), limit) << requests << " requests";
  }
  EXPECT_EQ(b.requestsInFlight(), 1000u);
  for (int i = 0; i < 199; ++i) b.retryStarted();
  EXPECT_TRUE(b.allows(cfg));
  b.retryStarted();
  EXPECT_FALSE(b.allows(cfg));
  EXPECT_EQ(b.retriesInFlight(), 200u);
}

TEST(RetryBudget, FinishingMoreThanStartedStaysAtZero) {
  RetryBudget b;
  b.requestFinished();
  b.retryFinished();
  EXPECT_EQ(b.requestsInFlight(), 0u);
  EXPECT_EQ(b.retriesInFlight(), 0u);
  b.requestStarted();
  b.requestFinished();
  EXPECT_EQ(b.requestsInFlight(), 0u);
}

TEST(RetryBudget, ZeroMinAndZeroRatioAllowsNothing) {
  RetryConfig cfg;
  cfg.min_retry_concurrency = 0;
  cfg.budget_ratio = 0;
  RetryBudget b;
  for (int i = 0; i < 50; ++i) b.requestStarted();
  EXPECT_FALSE(b.allows(cfg));
  cfg.budget_ratio = -1;
  EXPECT_FALSE(b.allows(cfg));
  cfg.budget_ratio = 1.0;
  EXPECT_EQ(b.limit(cfg), 50u);
}

TEST(RetryBackoff, StaysWithinTheExponentialCeiling) {
  RetryConfig cfg;  // 25 ms
  const uint64_t ceilings[] = {25, 50, 100, 200, 250, 250, 250};
  for (uint32_t n = 1; n <= 7; ++n) {
    const uint64_t ceiling = ceilings[n - 1];
    uint64_t hi = 0;
    for (uint64_t r = 0; r < 2000; ++r) {
      const uint64_t d = backoffMs(cfg, n, r * 0x9e3779b97f4a7c15ULL);
      EXPECT_LE(d, ceiling) << "retry " << n;
      hi = std::max(hi, d);
    }
    EXPECT_GE(hi, ceiling * 9 / 10) << "full jitter reaches near the ceiling, retry " << n;
    EXPECT_EQ(backoffMs(cfg, n, 0), 0u);
    EXPECT_EQ(backoffMs(cfg, n, ceiling), ceiling) << "random maps onto [0, ceiling]";
  }
}

TEST(RetryBackoff, RetryZeroActsAsOneAndHugeNumbersStayCapped) {
  RetryConfig cfg;
  for (uint64_t r : {0ull, 7ull, 25ull, 26ull, ~0ull}) {
    EXPECT_EQ(backoffMs(cfg, 0, r), backoffMs(cfg, 1, r));
    EXPECT_LE(backoffMs(cfg, UINT32_MAX, r), 250u);
  }
}

TEST(RetryBackoff, ZeroBaseMeansNoWait) {
  RetryConfig cfg;
  cfg.backoff_ms = 0;
  EXPECT_EQ(backoffMs(cfg, 3, 12345), 0u);
}

TEST(RetryBackoff, HugeBaseDoesNotOverflow) {
  RetryConfig cfg;
  cfg.backoff_ms = UINT64_MAX / 3;
  EXPECT_EQ(backoffMs(cfg, 1, 5), 5u);
  EXPECT_EQ(backoffMs(cfg, 60, ~0ull), ~0ull);
}

}  // namespace
}  // namespace weir::health
