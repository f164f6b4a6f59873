// openFilesWanted: the open-file budget a config implies; raiseOpenFileLimit: never lowers.
#include "server/open_file_limit.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace weir::server {
namespace {

TEST(OpenFileLimit, CountsTwoFilesPerConnectionEveryPoolAndSlack) {
  config::Config c;
  c.limits.max_connections = 1000;
  config::Upstream a;
  a.servers.resize(3);
  a.keepalive.max_idle = 10;
  config::Upstream b;
  b.servers.resize(1);
  b.keepalive.max_idle = 64;
  c.upstreams = {a, b};
  // 2 x 1,000 + 4 workers x (3 x 10 + 1 x 64) + 256
  EXPECT_EQ(openFilesWanted(c, 4), 2000u + 4u * 94u + 256u);
}

TEST(OpenFileLimit, NeverLowersTheSoftLimit) {
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  raiseOpenFileLimit(16);
  rlimit after{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, before.rlim_cur);
  EXPECT_EQ(after.rlim_max, before.rlim_max);
}

}  // namespace
}  // namespace weir::server
