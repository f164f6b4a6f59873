#include "health/check_spec.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>
#include <vector>

namespace weir::health {
namespace {

using Range = std::pair<int, int>;

TEST(CheckStatusRange, ParsesRangesSingleCodesAndClasses) {
  EXPECT_EQ(parseStatusRange("200-399"), Range(200, 399));
  EXPECT_EQ(parseStatusRange("204"), Range(204, 204));
  EXPECT_EQ(parseStatusRange("200-200"), Range(200, 200));
  EXPECT_EQ(parseStatusRange("100-599"), Range(100, 599));
  EXPECT_EQ(parseStatusRange("2xx"), Range(200, 299));
  EXPECT_EQ(parseStatusRange("5XX"), Range(500, 599));
  EXPECT_EQ(parseStatusRange("1xx"), Range(100, 199));
}

TEST(CheckStatusRange, RejectsMalformedOrOutOfRange) {
  for (const char* s : {"",    "-",    "200-", "-399",      "399-200", "99",          "600",
                        "099", "2000", "20a",  "200 - 399", " 200",    "200-399-400", "6xx",
                        "0xx", "2x",   "2xxx", "x00",       "200-600", "+200",        "2.0"}) {
    EXPECT_FALSE(parseStatusRange(s)) << '"' << s << '"';
  }
}

TEST(CheckProbe, BuildsAnHttp11RequestWithDefaultHost) {
  const HttpCheckSpec spec;
  EXPECT_EQ(buildProbeRequest(spec, "10.0.0.1:8080"),
            "GET /healthz HTTP/1.1\r\n"
            "Host: 10.0.0.1:8080\r\n"
            "User-Agent: weir-health-check\r\n"
            "Connection: close\r\n"
            "\r\n");
}

TEST(CheckProbe, UsesTheConfiguredMethodPathAndHost) {
  HttpCheckSpec spec;
  spec.method = "HEAD";
  spec.path = "/status?full=1";
  spec.host = "api.internal";
  EXPECT_EQ(buildProbeRequest(spec, "10.0.0.1:8080"),
            "HEAD /status?full=1 HTTP/1.1\r\n"
            "Host: api.internal\r\n"
            "User-Agent: weir-health-check\r\n"
            "Connection: close\r\n"
            "\r\n");
}

TEST(CheckProbe, EmptyPathBecomesSlash) {
  HttpCheckSpec spec;
  spec.path = "";
  EXPECT_EQ(buildProbeRequest(spec, "h").substr(0, 16), "GET / HTTP/1.1\r\n");
}

TEST(CheckProbe, PassesOnStatusInRangeInclusive) {
  const HttpCheckSpec spec;  // 200-399
  EXPECT_FALSE(probePassed(spec, 199, ""));
  EXPECT_TRUE(probePassed(spec, 200, ""));
  EXPECT_TRUE(probePassed(spec, 301, ""));
  EXPECT_TRUE(probePassed(spec, 399, ""));
  EXPECT_FALSE(probePassed(spec, 400, ""));
  EXPECT_FALSE(probePassed(spec, 503, "ok"));
  EXPECT_FALSE(probePassed(spec, 0, ""));
}

TEST(CheckProbe, ExpectBodyMustAppearInTheBody) {
  HttpCheckSpec spec;
  spec.status_lo = spec.status_hi = 204;
  spec.expect_body = "\"status\":\"ok\"";
  EXPECT_TRUE(probePassed(spec, 204, R"({"status":"ok","db":"up"})"));
  EXPECT_FALSE(probePassed(spec, 204, R"({"status":"degraded"})"));
  EXPECT_FALSE(probePassed(spec, 204, ""));
  EXPECT_FALSE(probePassed(spec, 200, R"({"status":"ok"})")) << "status still has to match";
}

TEST(CheckSchedule, JitterStaysWithinTheRatio) {
  for (double ratio : {0.0, 0.1, 0.5, 1.0}) {
    const uint64_t interval = 2000;
    const auto spread = static_cast<uint64_t>(interval * ratio);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint64_t r = 0; r < 20000; ++r) {
      const uint64_t d = jitteredDelay(interval, ratio, r * 0x9e3779b97f4a7c15ULL + r);
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    SCOPED_TRACE(ratio);
    EXPECT_GE(lo, interval - spread);
    EXPECT_LE(hi, interval + spread);
    if (ratio > 0) {
      EXPECT_LE(lo, interval - spread * 9 / 10) << "uses the low end";
      EXPECT_GE(hi, interval + spread * 9 / 10) << "uses the high end";
    }
  }
}

TEST(CheckSchedule, JitterExtremesAreReachable) {
  EXPECT_EQ(jitteredDelay(1000, 0.1, 0), 900u);
  EXPECT_EQ(jitteredDelay(1000, 0.1, 200), 1100u);
  EXPECT_EQ(jitteredDelay(1000, 0.1, 201), 900u);
}

TEST(CheckSchedule, JitterRatioIsClamped) {
  EXPECT_EQ(jitteredDelay(1000, -0.5, 123), 1000u);
  EXPECT_EQ(jitteredDelay(1000, std::numeric_limits<double>::quiet_NaN(), 123), 1000u);
  for (uint64_t r = 0; r < 5000; ++r) EXPECT_LE(jitteredDelay(1000, 7.0, r), 2000u);
  EXPECT_EQ(jitteredDelay(0, 0.5, 99), 0u);
  EXPECT_LE(jitteredDelay(UINT64_MAX, 1.0, ~0ull), UINT64_MAX);
}

TEST(CheckSchedule, InitialOffsetsSpreadEvenlyOverTheInterval) {
  EXPECT_EQ(initialOffset(0, 4, 1000), 0u);
  EXPECT_EQ(initialOffset(1, 4, 1000), 250u);
  EXPECT_EQ(initialOffset(2, 4, 1000), 500u);
  EXPECT_EQ(initialOffset(3, 4, 1000), 750u);
  EXPECT_EQ(initialOffset(4, 4, 1000), 0u) << "modulo count";
  EXPECT_EQ(initialOffset(0, 0, 1000), 0u);
  EXPECT_EQ(initialOffset(0, 1, 1000), 0u);

  std::vector<uint64_t> offsets;
  for (size_t i = 0; i < 7; ++i) offsets.push_back(initialOffset(i, 7, 10000));
  for (size_t i = 1; i < offsets.size(); ++i) {
    EXPECT_GT(offsets[i], offsets[i - 1]);
    EXPECT_NEAR(static_cast<double>(offsets[i] - offsets[i - 1]), 10000.0 / 7, 1.0);
  }
  EXPECT_LT(offsets.back(), 10000u);
}

TEST(CheckSchedule, InitialOffsetDoesNotOverflow) {
  EXPECT_EQ(initialOffset(3, 4, UINT64_MAX), UINT64_MAX / 4 * 3 + 2);
}

}  // namespace
}  // namespace weir::health
