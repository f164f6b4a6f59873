#include "health/outlier_detector.h"

#include <gtest/gtest.h>

#include <vector>

namespace weir::health {
namespace {

OutlierConfig config(uint32_t failures = 3, uint64_t ejection_ms = 1000,
                     uint64_t max_ejection_ms = 5000, uint32_t max_percent = 100) {
  return OutlierConfig{failures, ejection_ms, max_ejection_ms, max_percent};
}

// Reports n failures for endpoint i at now_ms; returns whether the last one ejected it.
bool fail(OutlierDetector& d, size_t i, uint64_t now_ms, uint32_t n) {
  bool ejected = false;
  for (uint32_t k = 0; k < n; ++k) ejected = d.onResult(i, true, now_ms);
  return ejected;
}

TEST(OutlierDetector, DefaultsFollowTheDocumentedValues) {
  const OutlierConfig c;
  EXPECT_EQ(c.consecutive_failures, 5u);
  EXPECT_EQ(c.ejection_ms, 30000u);
  EXPECT_EQ(c.max_ejection_ms, 300000u);
  EXPECT_EQ(c.max_ejected_percent, 50u);
}

TEST(OutlierDetector, EjectsAfterConsecutiveFailures) {
  OutlierDetector d(config(3), 4);
  EXPECT_FALSE(d.onResult(1, true, 100));
  EXPECT_FALSE(d.onResult(1, true, 100));
  EXPECT_FALSE(d.ejected(1, 100));
  EXPECT_TRUE(d.onResult(1, true, 100));
  EXPECT_TRUE(d.ejected(1, 100));
  EXPECT_TRUE(d.ejected(1, 1099));
  EXPECT_FALSE(d.ejected(1, 1100)) << "the first ejection lasts ejection_ms";
  EXPECT_FALSE(d.ejected(0, 100));
  EXPECT_EQ(d.ejectionCount(1), 1u);
  EXPECT_EQ(d.ejectedCount(500), 1u);
}

TEST(OutlierDetector, ASuccessResetsTheConsecutiveCount) {
  OutlierDetector d(config(3), 2);
  fail(d, 0, 0, 2);
  EXPECT_FALSE(d.onResult(0, false, 0));
  EXPECT_FALSE(fail(d, 0, 0, 2));
  EXPECT_TRUE(d.onResult(0, true, 0));
}

TEST(OutlierDetector, EjectionTimeDoublesOnEachRepeatUpToTheCap) {
  OutlierDetector d(config(1, 1000, 5000), 2);
  uint64_t now = 0;
  for (uint64_t expected : {1000u, 2000u, 4000u, 5000u, 5000u}) {
    ASSERT_TRUE(d.onResult(0, true, now));
    EXPECT_TRUE(d.ejected(0, now + expected - 1));
    EXPECT_FALSE(d.ejected(0, now + expected)) << "ejection " << d.ejectionCount(0);
    now += expected;
    EXPECT_EQ(d.expire(now), std::vector<size_t>{0});
  }
  EXPECT_EQ(d.ejectionCount(0), 5u);
}

TEST(OutlierDetector, NeverEjectsMoreThanTheMaxPercent) {
  {
    OutlierDetector d(config(1, 1000, 5000, 50), 3);  // floor(3 * 50%) = 1
    EXPECT_TRUE(d.onResult(0, true, 0));
    EXPECT_FALSE(d.onResult(1, true, 0));
    EXPECT_FALSE(d.onResult(2, true, 0));
    EXPECT_EQ(d.ejectedCount(0), 1u);
  }
  {
    OutlierDetector d(config(1, 1000, 5000, 50), 4);  // 2
    EXPECT_TRUE(d.onResult(0, true, 0));
    EXPECT_TRUE(d.onResult(1, true, 0));
    EXPECT_FALSE(d.onResult(2, true, 0));
  }
  {
    OutlierDetector d(config(1, 1000, 5000, 50), 1);  // a lone endpoint stays in
    EXPECT_FALSE(d.onResult(0, true, 0));
  }
  {
    OutlierDetector d(config(1, 1000, 5000, 100), 1);
    EXPECT_TRUE(d.onResult(0, true, 0));
  }
  {
    OutlierDetector d(config(1, 1000, 5000, 250), 2);  // above 100 acts as 100
    EXPECT_TRUE(d.onResult(0, true, 0));
    EXPECT_TRUE(d.onResult(1, true, 0));
  }
  {
    OutlierDetector d(config(1, 1000, 5000, 0), 10);
    EXPECT_FALSE(d.onResult(0, true, 0));
  }
}

TEST(OutlierDetector, ACappedEndpointIsEjectedByItsNextFailureOnceThereIsRoom) {
  OutlierDetector d(config(3, 1000, 5000, 50), 3);
  EXPECT_TRUE(fail(d, 0, 0, 3));
  EXPECT_FALSE(fail(d, 1, 10, 3)) << "cap: 1 of 3";
  EXPECT_EQ(d.expire(1000), std::vector<size_t>{0});
  EXPECT_TRUE(d.onResult(1, true, 1000)) << "its count was kept, so one more failure ejects";
}

TEST(OutlierDetector, ResultsWhileEjectedAreIgnored) {
  OutlierDetector d(config(2), 2);
  ASSERT_TRUE(fail(d, 0, 0, 2));
  EXPECT_FALSE(fail(d, 0, 500, 10));
  EXPECT_EQ(d.ejectionCount(0), 1u);
  EXPECT_FALSE(d.ejected(0, 1000));
  d.expire(1000);
  EXPECT_FALSE(d.onResult(0, true, 1000)) << "the count restarts from 0 when it comes back";
  EXPECT_TRUE(d.onResult(0, true, 1000));
}

TEST(OutlierDetector, ExpireReportsEachEjectionEndOnce) {
  OutlierDetector d(config(1, 1000, 5000), 4);
  d.onResult(2, true, 0);
  d.onResult(0, true, 300);
  EXPECT_TRUE(d.expire(999).empty());
  EXPECT_EQ(d.expire(1000), std::vector<size_t>{2});
  EXPECT_TRUE(d.expire(1200).empty());
  EXPECT_EQ(d.expire(5000), std::vector<size_t>{0});
  EXPECT_TRUE(d.expire(9000).empty());
}

TEST(OutlierDetector, ExpireReportsSeveralInIndexOrder) {
  OutlierDetector d(config(1, 1000, 5000), 4);
  d.onResult(3, true, 0);
  d.onResult(1, true, 10);
  EXPECT_EQ(d.expire(2000), (std::vector<size_t>{1, 3}));
}

TEST(OutlierDetector, AResultAfterTheEjectionEndsStillLetsExpireReportIt) {
  OutlierDetector d(config(2, 1000, 5000), 2);
  ASSERT_TRUE(fail(d, 0, 0, 2));
  EXPECT_FALSE(d.onResult(0, false, 1500));  // traffic came back before expire() ran
  EXPECT_EQ(d.expire(1600), std::vector<size_t>{0});
  EXPECT_TRUE(d.expire(1700).empty());
}

TEST(OutlierDetector, AReEjectionBeforeExpireIsNotReportedBack) {
  OutlierDetector d(config(1, 1000, 5000), 2);
  ASSERT_TRUE(d.onResult(0, true, 0));
  EXPECT_TRUE(d.onResult(0, true, 1000)) << "over at 1000; fails again at once";
  EXPECT_TRUE(d.ejected(0, 1500));
  EXPECT_TRUE(d.expire(1500).empty()) << "it never came back as far as alerts go";
  EXPECT_EQ(d.ejectionCount(0), 2u);
  EXPECT_EQ(d.expire(3000), std::vector<size_t>{0});
}

TEST(OutlierDetector, EjectionCountDecaysAfterStayingBackForMaxEjection) {
  OutlierDetector d(config(1, 1000, 5000), 2);
  ASSERT_TRUE(d.onResult(0, true, 0));
  d.expire(1000);
  ASSERT_TRUE(d.onResult(0, true, 1000));
  EXPECT_EQ(d.ejectionCount(0), 2u);
  d.expire(3000);  // back at 3000
  d.expire(7999);
  EXPECT_EQ(d.ejectionCount(0), 2u) << "back for 4999 ms only";
  d.expire(8000);
  EXPECT_EQ(d.ejectionCount(0), 0u);
  ASSERT_TRUE(d.onResult(0, true, 8000));
  EXPECT_FALSE(d.ejected(0, 9000)) << "a decayed endpoint's next ejection is short again";
}

TEST(OutlierDetector, DecayIsAlsoAppliedByOnResult) {
  OutlierDetector d(config(1, 1000, 5000), 2);
  ASSERT_TRUE(d.onResult(0, true, 0));
  ASSERT_TRUE(d.onResult(0, true, 1000));  // 2nd: 2000 ms, back at 3000
  ASSERT_TRUE(d.onResult(0, true, 8000));
  EXPECT_EQ(d.ejectionCount(0), 1u);
  EXPECT_FALSE(d.ejected(0, 9000));
}

TEST(OutlierDetector, NoDecayWhenEjectedAgainSooner) {
  OutlierDetector d(config(1, 1000, 5000), 2);
  ASSERT_TRUE(d.onResult(0, true, 0));
  ASSERT_TRUE(d.onResult(0, true, 5999));  // back at 1000, out again 4999 ms later
  EXPECT_EQ(d.ejectionCount(0), 2u);
  EXPECT_TRUE(d.ejected(0, 5999 + 1999));
}

TEST(OutlierDetector, ZeroConsecutiveFailuresDisablesEjection) {
  OutlierDetector d(config(0), 2);
  EXPECT_FALSE(fail(d, 0, 0, 1000));
  EXPECT_EQ(d.ejectedCount(0), 0u);
}

TEST(OutlierDetector, ResizeKeepsSurvivorsAndStartsNewcomersClean) {
  OutlierDetector d(config(2, 1000, 5000), 2);
  ASSERT_TRUE(fail(d, 0, 0, 2));
  d.onResult(1, true, 0);
  d.resize(4);
  EXPECT_EQ(d.size(), 4u);
  EXPECT_TRUE(d.ejected(0, 10));
  EXPECT_TRUE(d.onResult(1, true, 10)) << "endpoint 1 kept its count";
  EXPECT_FALSE(d.onResult(3, true, 10));
  EXPECT_EQ(d.ejectionCount(3), 0u);
  d.resize(1);
  EXPECT_TRUE(d.ejected(0, 10));
  EXPECT_FALSE(d.ejected(1, 10));
  EXPECT_EQ(d.expire(5000), std::vector<size_t>{0});
}

TEST(OutlierDetector, OutOfRangeEndpointsAreIgnored) {
  OutlierDetector d(config(1), 2);
  EXPECT_FALSE(d.onResult(2, true, 0));
  EXPECT_FALSE(d.ejected(7, 0));
  EXPECT_EQ(d.ejectionCount(7), 0u);
}

TEST(OutlierDetector, NextExpiryIsTheEarliestEjectionEnd) {
  OutlierDetector d(config(1, 1000, 5000), 4);
  EXPECT_EQ(d.nextExpiry(), UINT64_MAX);
  d.onResult(0, true, 500);
  d.onResult(1, true, 200);
  EXPECT_EQ(d.nextExpiry(), 1200u);
  d.expire(1200);
  EXPECT_EQ(d.nextExpiry(), 1500u);
}

TEST(OutlierDetector, HugeTimesSaturateInsteadOfWrapping) {
  OutlierDetector d(config(1, UINT64_MAX / 2, UINT64_MAX), 2);
  for (int k = 0; k < 70; ++k) {
    ASSERT_TRUE(d.onResult(0, true, 0)) << k;
    d.expire(UINT64_MAX);
  }
  ASSERT_TRUE(d.onResult(0, true, 100));
  EXPECT_TRUE(d.ejected(0, UINT64_MAX - 1));
}

}  // namespace
}  // namespace weir::health
