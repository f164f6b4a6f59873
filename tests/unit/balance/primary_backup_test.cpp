#include "balance/primary_backup.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "balance/factory.h"
#include "balance/hash.h"
#include "balance/round_robin.h"
#include "share_check.h"

namespace weir::balance {
namespace {

constexpr Policy kAllPolicies[] = {Policy::RoundRobin, Policy::LeastConn, Policy::Random,
                                   Policy::P2C,        Policy::Ewma,      Policy::RingHash,
                                   Policy::Maglev,     Policy::First};

// Servers 0, 2 and 4 are primaries; 1 and 3 are backups.
std::vector<EndpointSpec> mixed() {
  std::vector<EndpointSpec> out;
  for (size_t i = 0; i < 5; ++i)
    out.push_back({.weight = static_cast<int>(i) + 1,
                   .backup = i % 2 == 1,
                   .key = "server-" + std::to_string(i)});
  return out;
}

std::vector<int> hitsOver(Balancer& balancer, const EndpointSet* excluded, int picks = 10'000) {
  std::vector<int> hits(balancer.size(), 0);
  for (int k = 0; k < picks; ++k) {
    auto picked = balancer.pick({.hash = mix64(k), .excluded = excluded});
    EXPECT_TRUE(picked.has_value());
    if (!picked) break;
    ++hits[*picked];
    balancer.onStart(*picked);
    balancer.onFinish(*picked, std::chrono::microseconds(100), true, 0);
  }
  return hits;
}

TEST(Backup, ServersGetTrafficOnlyWhenEveryPrimaryIsExcluded) {
  for (Policy policy : kAllPolicies) {
    SCOPED_TRACE(std::string(policyName(policy)));
    auto balancer = makeBalancer(policy, mixed(), 1);
    EndpointSet excluded;
    auto hits = hitsOver(*balancer, &excluded);
    EXPECT_EQ(hits[1] + hits[3], 0);
    excluded.set(0);
    excluded.set(4);
    hits = hitsOver(*balancer, &excluded);
    EXPECT_EQ(hits[1] + hits[3], 0);
    EXPECT_EQ(hits[2], 10'000);
    excluded.set(2);  // every primary down: backups take over
    hits = hitsOver(*balancer, &excluded);
    EXPECT_EQ(hits[0] + hits[2] + hits[4], 0);
    EXPECT_EQ(hits[1] + hits[3], 10'000);
    if (policy != Policy::First) {
      EXPECT_GT(hits[1], 0);
    }
    excluded.set(1);
    excluded.set(3);
    EXPECT_EQ(balancer->pick({.excluded = &excluded}), std::nullopt);
  }
}

TEST(Backup, ServersGetTrafficWhenEveryPrimaryIsFull) {
  for (Policy policy : kAllPolicies) {
    SCOPED_TRACE(std::string(policyName(policy)));
    auto endpoints = mixed();
    for (size_t i : {0u, 2u, 4u}) endpoints[i].max_conns = 1;
    auto balancer = makeBalancer(policy, endpoints, 1);
    for (size_t i : {0u, 2u, 4u}) balancer->onStart(i);
    auto picked = balancer->pick({.hash = 5});
    ASSERT_TRUE(picked.has_value());
    EXPECT_TRUE(*picked == 1 || *picked == 3);
    balancer->onFinish(2, std::chrono::microseconds(100), true, 0);
    EXPECT_EQ(balancer->pick({.hash = 5}), 2u);
  }
}

TEST(Backup, PrimariesKeepTheirWeightSharesAndBackupsTheirs) {
  auto balancer = makeBalancer(Policy::RoundRobin, mixed(), 0);
  auto hits = testing::countPicks(*balancer, 90'000);
  testing::expectSharesMatchWeights({hits[0], hits[2], hits[4]}, std::vector<int>{1, 3, 5}, 0.01);
  EndpointSet excluded;
  for (size_t i : {0u, 2u, 4u}) excluded.set(i);
  hits = testing::countPicks(*balancer, 60'000, &excluded);
  testing::expectSharesMatchWeights({hits[1], hits[3]}, std::vector<int>{2, 4}, 0.01);
}

TEST(Backup, WeightScalesAndFeedbackReachTheRightInnerEndpoint) {
  auto balancer = makeBalancer(Policy::LeastConn, mixed(), 0);
  balancer->setWeightScale(4, 0.2);  // primary 4: weight 5 -> 1
  auto hits = testing::countPicks(*balancer, 50'000);
  testing::expectSharesMatchWeights({hits[0], hits[2], hits[4]}, std::vector<double>{1, 3, 1},
                                    0.01);
}

TEST(Backup, WrapperWorksWithOnlyBackups) {
  PrimaryBackup balancer({true, true}, nullptr,
                         std::make_unique<RoundRobin>(std::vector<int>{1, 1}));
  EXPECT_EQ(balancer.size(), 2u);
  EXPECT_EQ(balancer.pick({}), 0u);
  EXPECT_EQ(balancer.pick({}), 1u);
}

}  // namespace
}  // namespace weir::balance
