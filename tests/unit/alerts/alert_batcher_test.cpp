#include "alerts/alert_batcher.h"

#include <gtest/gtest.h>

#include <string>

namespace weir::alerts {
namespace {

StateChange change(std::string server, uint64_t at = 0) {
  return {"api", std::move(server), "healthy", "unhealthy", at, "test"};
}

TEST(AlertBatcher, EmptyHasNothingToTake) {
  AlertBatcher b(1000);
  EXPECT_FALSE(b.take(0));
  EXPECT_FALSE(b.take(UINT64_MAX));
  EXPECT_EQ(b.nextDeadline(), UINT64_MAX);
}

TEST(AlertBatcher, TwoChangesWithinTheWindowMakeOneBatch) {
  AlertBatcher b(1000);
  b.add(change("a"), 5000);
  b.add(change("b"), 5900);
  EXPECT_EQ(b.nextDeadline(), 6000u) << "the window starts at the first change";
  EXPECT_FALSE(b.take(5999));
  auto batch = b.take(6000);
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->size(), 2u);
  EXPECT_EQ((*batch)[0].server, "a");
  EXPECT_EQ((*batch)[1].server, "b");
  EXPECT_FALSE(b.take(6000));
  EXPECT_EQ(b.pending(), 0u);
}

TEST(AlertBatcher, AChangeAfterTheWindowGoesToTheNextBatch) {
  AlertBatcher b(1000);
  b.add(change("a"), 0);
  auto first = b.take(1000);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->size(), 1u);
  b.add(change("b"), 1500);
  EXPECT_EQ(b.nextDeadline(), 2500u);
  EXPECT_FALSE(b.take(2000));
  auto second = b.take(2600);
  ASSERT_TRUE(second);
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].server, "b");
}

TEST(AlertBatcher, ChangesArrivingLateInAnOverdueWindowJoinIt) {
  AlertBatcher b(1000);
  b.add(change("a"), 0);
  b.add(change("b"), 3000);  // take() was late: the batch is still open
  auto batch = b.take(3000);
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->size(), 2u);
}

TEST(AlertBatcher, AFlappingServerGivesOneBatchPerWindow) {
  AlertBatcher b(10000);
  int batches = 0;
  size_t changes = 0;
  for (uint64_t t = 0; t < 60000; t += 100) {  // a flap every 100 ms for a minute
    b.add(change("flappy", t), t);
    if (auto batch = b.take(t)) {
      ++batches;
      changes += batch->size();
    }
  }
  if (auto batch = b.take(UINT64_MAX)) {
    ++batches;
    changes += batch->size();
  }
  EXPECT_EQ(changes, 600u);
  EXPECT_LE(batches, 7);
  EXPECT_GE(batches, 6);
}

TEST(AlertBatcher, ZeroWindowSendsAtOnce) {
  AlertBatcher b(0);
  b.add(change("a"), 42);
  EXPECT_EQ(b.nextDeadline(), 42u);
  EXPECT_TRUE(b.take(42));
}

TEST(AlertBatcher, SetBatchMsMovesTheCurrentDeadline) {
  AlertBatcher b(1000);
  b.add(change("a"), 100);
  b.setBatchMs(50);
  EXPECT_EQ(b.nextDeadline(), 150u);
  EXPECT_TRUE(b.take(150));
}

TEST(AlertBatcher, DropsAndCountsChangesBeyondTheBatchLimit) {
  AlertBatcher b(1000, 3);
  for (int i = 0; i < 5; ++i) b.add(change(std::to_string(i)), 0);
  EXPECT_EQ(b.pending(), 3u);
  EXPECT_EQ(b.dropped(), 2u);
  auto batch = b.take(1000);
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->back().server, "2") << "the first ones are kept";
  b.add(change("x"), 2000);
  EXPECT_EQ(b.pending(), 1u) << "the next batch has room again";
}

TEST(AlertBatcher, HugeTimesSaturate) {
  AlertBatcher b(1000);
  b.add(change("a"), UINT64_MAX - 10);
  EXPECT_EQ(b.nextDeadline(), UINT64_MAX);
  EXPECT_TRUE(b.take(UINT64_MAX));
}

}  // namespace
}  // namespace weir::alerts
