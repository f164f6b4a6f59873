#include "health/health_state.h"

#include <gtest/gtest.h>

#include <string>

namespace weir::health {
namespace {

// The rule as the brief states it, with a separate state and streak: the reference the one-counter
// implementation must match.
struct ReferenceModel {
  int rise, fall;
  bool healthy;
  int streak = 0;  // consecutive results against the current state

  bool observe(bool passed) {
    if (passed == healthy) {
      streak = 0;
      return false;
    }
    if (++streak < (healthy ? fall : rise)) return false;
    healthy = !healthy;
    streak = 0;
    return true;
  }
};

std::string describe(int rise, int fall, bool initially_healthy, unsigned bits, int length) {
  std::string s = "rise=" + std::to_string(rise) + " fall=" + std::to_string(fall) +
                  (initially_healthy ? " up" : " down") + " results=";
  for (int k = 0; k < length; ++k) s += (bits >> k) & 1 ? 'P' : 'F';
  return s;
}

TEST(HealthState, MatchesTheReferenceModelOnEverySequenceUpToEight) {
  int sequences = 0;
  for (int rise = 1; rise <= 3; ++rise) {
    for (int fall = 1; fall <= 3; ++fall) {
      for (bool initially_healthy : {true, false}) {
        for (int length = 0; length <= 8; ++length) {
          for (unsigned bits = 0; bits < (1u << length); ++bits) {
            ++sequences;
            HealthState state(rise, fall, initially_healthy);
            ReferenceModel model{rise, fall, initially_healthy};
            ASSERT_EQ(state.healthy(), model.healthy);
            for (int k = 0; k < length; ++k) {
              const bool passed = (bits >> k) & 1;
              const bool flipped = state.observe(passed);
              const bool expected_flip = model.observe(passed);
              ASSERT_EQ(flipped, expected_flip)
                  << describe(rise, fall, initially_healthy, bits, length) << " step " << k;
              ASSERT_EQ(state.healthy(), model.healthy)
                  << describe(rise, fall, initially_healthy, bits, length) << " step " << k;
              ASSERT_EQ(state.streak(), model.streak)
                  << describe(rise, fall, initially_healthy, bits, length) << " step " << k;
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(sequences, 3 * 3 * 2 * 511);
}

TEST(HealthState, StartsInTheGivenState) {
  EXPECT_TRUE(HealthState(2, 3, true).healthy());
  EXPECT_FALSE(HealthState(2, 3, false).healthy());
}

TEST(HealthState, GoesDownAfterFallConsecutiveFailures) {
  HealthState s(2, 3, true);
  EXPECT_FALSE(s.observe(false));
  EXPECT_FALSE(s.observe(false));
  EXPECT_TRUE(s.healthy());
  EXPECT_TRUE(s.observe(false));
  EXPECT_FALSE(s.healthy());
  EXPECT_FALSE(s.observe(false)) << "already down: no second flip";
}

TEST(HealthState, ComesBackAfterRiseConsecutivePasses) {
  HealthState s(2, 3, false);
  EXPECT_FALSE(s.observe(true));
  EXPECT_FALSE(s.healthy());
  EXPECT_TRUE(s.observe(true));
  EXPECT_TRUE(s.healthy());
  EXPECT_FALSE(s.observe(true));
}

TEST(HealthState, APassClearsTheFailureStreak) {
  HealthState s(2, 3, true);
  s.observe(false);
  s.observe(false);
  s.observe(true);  // streak gone: three more failures are needed
  EXPECT_FALSE(s.observe(false));
  EXPECT_FALSE(s.observe(false));
  EXPECT_TRUE(s.healthy());
  EXPECT_TRUE(s.observe(false));
}

TEST(HealthState, AFailureClearsThePassStreak) {
  HealthState s(3, 1, false);
  s.observe(true);
  s.observe(true);
  s.observe(false);
  EXPECT_FALSE(s.observe(true));
  EXPECT_FALSE(s.observe(true));
  EXPECT_TRUE(s.observe(true));
}

TEST(HealthState, FlappingNeverFlipsWithRiseAndFallAboveOne) {
  HealthState s(2, 2, true);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(s.observe(i % 2 == 0));
  EXPECT_TRUE(s.healthy());
}

TEST(HealthState, RiseAndFallBelowOneActAsOne) {
  HealthState s(0, -4, true);
  EXPECT_EQ(s.rise(), 1);
  EXPECT_EQ(s.fall(), 1);
  EXPECT_TRUE(s.observe(false));
  EXPECT_TRUE(s.observe(true));
}

}  // namespace
}  // namespace weir::health
