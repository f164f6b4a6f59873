#include "routing/string_index.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace weir::routing {
namespace {

TEST(StringIndex, EmptyIndexFindsNothing) {
  StringIndex<uint32_t> index;
  EXPECT_TRUE(index.empty());
  EXPECT_EQ(index.find("a"), nullptr);
  EXPECT_EQ(StringIndex<uint32_t>({}, false).find(""), nullptr);
}

TEST(StringIndex, FindsEveryKeyOfAThousandAndNothingElse) {
  std::vector<std::pair<std::string, uint32_t>> entries;
  for (uint32_t i = 0; i < 1000; ++i) entries.emplace_back("/p" + std::to_string(i) + "/", i);
  StringIndex<uint32_t> index(entries, /*fold_case=*/false);
  EXPECT_EQ(index.size(), 1000u);
  for (const auto& [key, value] : entries) {
    const uint32_t* found = index.find(key);
    ASSERT_NE(found, nullptr) << key;
    EXPECT_EQ(*found, value);
  }
  EXPECT_EQ(index.find("/p1000/"), nullptr);
  EXPECT_EQ(index.find("/p1"), nullptr);
  EXPECT_EQ(index.find("/P1/"), nullptr);  // case matters without folding
  EXPECT_EQ(index.find(""), nullptr);
}

TEST(StringIndex, FoldingIgnoresAsciiCaseOnBothSides) {
  StringIndex<uint32_t> index({{"Example.COM", 7}, {"a.b", 8}}, /*fold_case=*/true);
  ASSERT_NE(index.find("example.com"), nullptr);
  EXPECT_EQ(*index.find("EXAMPLE.com"), 7u);
  EXPECT_EQ(*index.find("A.B"), 8u);
  EXPECT_EQ(index.find("example.co"), nullptr);
}

TEST(StringIndex, FindWithAPrecomputedHashAgreesWithExtend) {
  StringIndex<uint32_t> index({{"/api", 1}, {"/api/v1", 2}}, false);
  const std::string path = "/api/v1/users";
  uint64_t h = StringHash::kSeed;
  std::vector<uint32_t> found;
  for (size_t len = 0; len < path.size(); ++len) {
    if (const uint32_t* v = index.find(std::string_view(path).substr(0, len), h))
      found.push_back(*v);
    h = StringHash::extend(h, path[len], false);
  }
  EXPECT_EQ(found, (std::vector<uint32_t>{1, 2}));
}

}  // namespace
}  // namespace weir::routing
