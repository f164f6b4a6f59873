#include "balance/first.h"

#include <gtest/gtest.h>

namespace weir::balance {
namespace {

TEST(First, PicksTheFirstEndpointEveryTime) {
  First first(4);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(first.pick({.hash = static_cast<uint64_t>(i)}), 0u);
}

TEST(First, SkipsExcludedEndpointsInListedOrder) {
  First first(4);
  EndpointSet excluded;
  excluded.set(0);
  EXPECT_EQ(first.pick({.excluded = &excluded}), 1u);
  excluded.set(1);
  EXPECT_EQ(first.pick({.excluded = &excluded}), 2u);
  excluded.reset(0);
  EXPECT_EQ(first.pick({.excluded = &excluded}), 0u);
}

TEST(First, ReturnsNothingWhenEveryEndpointIsExcluded) {
  First first(3);
  EndpointSet excluded;
  for (size_t i = 0; i < 3; ++i) excluded.set(i);
  EXPECT_EQ(first.pick({.excluded = &excluded}), std::nullopt);
  EXPECT_EQ(First(0).pick({}), std::nullopt);
}

}  // namespace
}  // namespace weir::balance
