#include "config/host_port.h"

#include <gtest/gtest.h>

namespace weir::config {
namespace {

std::string listenError(std::string_view text) {
  auto r = parseListenAddress(text);
  return r ? "ok" : r.error().detail;
}

std::string serverError(std::string_view text) {
  auto r = parseServerAddress(text);
  return r ? "ok" : r.error().detail;
}

TEST(ConfigHostPort, ListenAcceptsIpv4) {
  auto r = parseListenAddress("10.1.2.3:8080");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "10.1.2.3");
  EXPECT_EQ(r->port, 8080);
  EXPECT_EQ(r->text, "10.1.2.3:8080");
}

TEST(ConfigHostPort, ListenAcceptsIpv6InBracketsWithoutKeepingThem) {
  auto r = parseListenAddress("[::1]:443");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "::1");
  EXPECT_EQ(r->port, 443);
  EXPECT_EQ(r->text, "[::1]:443");
}

TEST(ConfigHostPort, ListenMapsLocalhostAndStar) {
  EXPECT_EQ(parseListenAddress("localhost:80")->host, "127.0.0.1");
  EXPECT_EQ(parseListenAddress("LocalHost:80")->host, "127.0.0.1");
  EXPECT_EQ(parseListenAddress("*:80")->host, "0.0.0.0");
  EXPECT_EQ(parseListenAddress("*:80")->text, "*:80");
}

TEST(ConfigHostPort, ListenAllowsPortZeroForTheOsToPick) {
  EXPECT_EQ(parseListenAddress("127.0.0.1:0")->port, 0);
}

TEST(ConfigHostPort, ListenRejectsHostNames) {
  EXPECT_EQ(listenError("example.com:80"),
            "host must be an IP address, localhost or *, got 'example.com'");
  EXPECT_EQ(listenError("1.2.3:80"), "host must be an IP address, localhost or *, got '1.2.3'");
}

TEST(ConfigHostPort, RejectsMalformedAddresses) {
  EXPECT_EQ(listenError("8080"), "must be host:port, e.g. 127.0.0.1:8080");
  EXPECT_EQ(listenError(":8080"), "host is missing, e.g. 0.0.0.0:8080");
  EXPECT_EQ(listenError("::1:8080"), "IPv6 addresses need brackets, e.g. [::1]:8080");
  EXPECT_EQ(listenError("[::1]8080"), "must be [IPv6]:port, e.g. [::1]:8080");
  EXPECT_EQ(listenError("[::1]"), "must be [IPv6]:port, e.g. [::1]:8080");
  EXPECT_EQ(listenError("[::1:8080"), "must be [IPv6]:port, e.g. [::1]:8080");
  EXPECT_EQ(listenError("[127.0.0.1]:80"), "'127.0.0.1' is not an IPv6 address");
  EXPECT_EQ(listenError("1.2.3.4:"), "port must be 0..65535, got ''");
  EXPECT_EQ(listenError("1.2.3.4:65536"), "port must be 0..65535, got '65536'");
  EXPECT_EQ(listenError("1.2.3.4:-1"), "port must be 0..65535, got '-1'");
  EXPECT_EQ(listenError("1.2.3.4:80x"), "port must be 0..65535, got '80x'");
  EXPECT_EQ(listenError("1.2.3.4:http"), "port must be 0..65535, got 'http'");
}

TEST(ConfigHostPort, ServerKeepsHostNamesAsWritten) {
  auto r = parseServerAddress("Backend-1.internal:9000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "Backend-1.internal");
  EXPECT_EQ(r->port, 9000);
  EXPECT_EQ(parseServerAddress("localhost:80")->host, "localhost");
  EXPECT_EQ(parseServerAddress("[fe80::1]:80")->host, "fe80::1");
}

TEST(ConfigHostPort, ServerRejectsPortZeroAndBadHostNames) {
  EXPECT_EQ(serverError("127.0.0.1:0"), "port must be 1..65535, got '0'");
  EXPECT_EQ(serverError("bad host:80"), "'bad host' is not an IP address or host name");
  EXPECT_EQ(serverError("a..b:80"), "'a..b' is not an IP address or host name");
  EXPECT_EQ(serverError("*:80"), "'*' is not an IP address or host name");
}

}  // namespace
}  // namespace weir::config
