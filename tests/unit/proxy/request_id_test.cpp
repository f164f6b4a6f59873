#include <gtest/gtest.h>

#include <set>
#include <string>

#include "proxy/worker_context.h"

namespace weir::proxy {
namespace {

std::string nextId(RequestIdGenerator& g) {
  char id[32];
  g.next(id);
  return std::string(id, sizeof id);
}

TEST(RequestIdGenerator, IdsAre32HexCharactersAndDoNotRepeat) {
  RequestIdGenerator g(0);  // a zero seed must work too
  std::set<std::string> seen;
  for (int i = 0; i < 100000; ++i) {
    const std::string id = nextId(g);
    ASSERT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    ASSERT_TRUE(seen.insert(id).second) << "repeated: " << id;
  }
}

TEST(RequestIdGenerator, SeedsGiveDifferentSequencesAndTheSameSeedTheSame) {
  RequestIdGenerator a(1), b(2), c(1);
  const std::string first = nextId(a);
  EXPECT_NE(first, nextId(b));
  EXPECT_EQ(first, nextId(c));
}

// Every hex digit appears about equally often in every position (a biased generator, or one
// stuck in part of its state, would not): 16,000 ids, expected 1,000 per digit and position.
TEST(RequestIdGenerator, DigitsAreEvenlySpread) {
  RequestIdGenerator g(42);
  int counts[32][16] = {};
  for (int i = 0; i < 16000; ++i) {
    const std::string id = nextId(g);
    for (int p = 0; p < 32; ++p) {
      const char ch = id[static_cast<size_t>(p)];
      ++counts[p][ch <= '9' ? ch - '0' : ch - 'a' + 10];
    }
  }
  for (auto& position : counts)
    for (int n : position) {
      EXPECT_GT(n, 850);
      EXPECT_LT(n, 1150);
    }
}

}  // namespace
}  // namespace weir::proxy
