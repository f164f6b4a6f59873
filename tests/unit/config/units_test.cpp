#include "config/units.h"

#include <gtest/gtest.h>

#include <limits>

namespace weir::config {
namespace {

using std::chrono::milliseconds;

TEST(Units, DurationAcceptsEachUnit) {
  EXPECT_EQ(parseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(parseDuration("2s"), milliseconds(2'000));
  EXPECT_EQ(parseDuration("1m"), milliseconds(60'000));
  EXPECT_EQ(parseDuration("1h"), milliseconds(3'600'000));
  EXPECT_EQ(parseDuration("0s"), milliseconds(0));
}

TEST(Units, DurationRejectsBareIntegers) {
  EXPECT_EQ(parseDuration("30"), std::nullopt);
  EXPECT_EQ(parseDuration("0"), std::nullopt);
}

TEST(Units, DurationRejectsMalformedText) {
  for (const char* text : {"", "s", "ms", "-1s", "+1s", "1.5s", "2 s", " 2s", "2s ", "2S", "2sec",
                           "1d", "250us", "1m30s"})
    EXPECT_EQ(parseDuration(text), std::nullopt) << "'" << text << "'";
}

TEST(Units, DurationRejectsOverflow) {
  EXPECT_EQ(parseDuration("99999999999999999999ms"), std::nullopt);  // > 2^64
  EXPECT_EQ(parseDuration("9223372036854776h"), std::nullopt);       // fits, but not in ms
  EXPECT_EQ(parseDuration("9223372036854775807ms"),
            milliseconds(std::numeric_limits<milliseconds::rep>::max()));
}

TEST(Units, SizeAcceptsBareBytes) {
  EXPECT_EQ(parseSize("0"), 0u);
  EXPECT_EQ(parseSize("512"), 512u);
  EXPECT_EQ(parseSize("512B"), 512u);
}

TEST(Units, SizeAcceptsBinaryAndNginxSuffixes) {
  EXPECT_EQ(parseSize("16KiB"), 16u << 10);
  EXPECT_EQ(parseSize("10MiB"), 10u << 20);
  EXPECT_EQ(parseSize("1GiB"), 1u << 30);
  EXPECT_EQ(parseSize("4k"), 4u << 10);
  EXPECT_EQ(parseSize("4K"), 4u << 10);
  EXPECT_EQ(parseSize("3m"), 3u << 20);
  EXPECT_EQ(parseSize("3M"), 3u << 20);
  EXPECT_EQ(parseSize("2g"), 2ull << 30);
  EXPECT_EQ(parseSize("2G"), 2ull << 30);
}

TEST(Units, SizeRejectsMalformedText) {
  for (const char* text :
       {"", "KiB", "-1", "1.5MiB", "16 KiB", "16KB", "16kb", "1MB", "1TiB", "16kib", "0x10"})
    EXPECT_EQ(parseSize(text), std::nullopt) << "'" << text << "'";
}

TEST(Units, SizeRejectsOverflow) {
  EXPECT_EQ(parseSize("18446744073709551616"), std::nullopt);  // 2^64
  EXPECT_EQ(parseSize("17179869184GiB"), std::nullopt);        // 2^34 GiB = 2^64
  EXPECT_EQ(parseSize("17179869183GiB"), 17179869183ull << 30);
}

}  // namespace
}  // namespace weir::config
