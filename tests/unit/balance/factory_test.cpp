#include "balance/factory.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "balance/hash.h"
#include "share_check.h"

namespace weir::balance {
namespace {

constexpr Policy kAllPolicies[] = {Policy::RoundRobin, Policy::LeastConn, Policy::Random,
                                   Policy::P2C,        Policy::Ewma,      Policy::RingHash,
                                   Policy::Maglev,     Policy::First};

std::vector<EndpointSpec> specs(const std::vector<int>& weights) {
  std::vector<EndpointSpec> out;
  for (size_t i = 0; i < weights.size(); ++i)
    out.push_back({.weight = weights[i], .key = "10.0.0." + std::to_string(i) + ":80"});
  return out;
}

TEST(BalancerFactory, ParsesEveryPolicyNameAndRejectsOthers) {
  for (Policy policy : kAllPolicies) {
    EXPECT_EQ(parsePolicy(policyName(policy)), policy) << policyName(policy);
  }
  EXPECT_EQ(parsePolicy("round_robin"), Policy::RoundRobin);
  EXPECT_EQ(parsePolicy("least_conn"), Policy::LeastConn);
  EXPECT_EQ(parsePolicy("ring_hash"), Policy::RingHash);
  EXPECT_EQ(parsePolicy("p2c"), Policy::P2C);
  EXPECT_EQ(parsePolicy("RoundRobin"), std::nullopt);
  EXPECT_EQ(parsePolicy(""), std::nullopt);
  EXPECT_EQ(parsePolicy("maglev "), std::nullopt);
}

TEST(BalancerFactory, EveryPolicyReturnsNothingWhenEveryEndpointIsExcluded) {
  for (Policy policy : kAllPolicies) {
    SCOPED_TRACE(std::string(policyName(policy)));
    auto balancer = makeBalancer(policy, specs({1, 2, 3}), 1);
    ASSERT_EQ(balancer->size(), 3u);
    EndpointSet excluded;
    for (size_t i = 0; i < 3; ++i) excluded.set(i);
    EXPECT_EQ(balancer->pick({.excluded = &excluded}), std::nullopt);
    EXPECT_EQ(balancer->pick({.hash = 42, .excluded = &excluded}), std::nullopt);
    excluded.reset(1);
    EXPECT_EQ(balancer->pick({.hash = 42, .excluded = &excluded}), 1u);
    EXPECT_EQ(makeBalancer(policy, {}, 1)->pick({}), std::nullopt);
  }
}

TEST(BalancerFactory, EveryPolicyNeverPicksExcluded) {
  for (Policy policy : kAllPolicies) {
    SCOPED_TRACE(std::string(policyName(policy)));
    auto balancer = makeBalancer(policy, specs({1, 2, 3, 4, 5}), 3);
    EndpointSet excluded;
    excluded.set(1);
    excluded.set(4);
    for (int k = 0; k < 2000; ++k) {
      auto picked = balancer->pick({.hash = mix64(k), .excluded = &excluded});
      ASSERT_TRUE(picked.has_value());
      EXPECT_FALSE(excluded.test(*picked));
      balancer->onStart(*picked);
      balancer->onFinish(*picked, std::chrono::microseconds(100), true, 0);
    }
  }
}

TEST(BalancerFactory, EveryPolicySkipsEndpointsAtMaxConns) {
  for (Policy policy : kAllPolicies) {
    SCOPED_TRACE(std::string(policyName(policy)));
    auto endpoints = specs({5, 1, 1});
    endpoints[0].max_conns = 2;
    auto balancer = makeBalancer(policy, endpoints, 1);
    balancer->onStart(0);
    balancer->onStart(0);
    for (int k = 0; k < 1000; ++k) {
      auto picked = balancer->pick({.hash = mix64(k)});
      ASSERT_TRUE(picked.has_value());
      EXPECT_NE(*picked, 0u);
    }
    balancer->onFinish(0, std::chrono::microseconds(100), true, 0);
    balancer->onFinish(0, std::chrono::microseconds(100), true, 0);
    bool zero_again = false;
    for (int k = 0; k < 1000 && !zero_again; ++k)
      zero_again = balancer->pick({.hash = mix64(k)}) == 0u;
    EXPECT_TRUE(zero_again);
  }
}

TEST(BalancerFactory, WeightedPoliciesFollowWeights) {
  const std::vector<int> weights{1, 2, 3};
  for (Policy policy :
       {Policy::RoundRobin, Policy::LeastConn, Policy::Random, Policy::P2C, Policy::Ewma}) {
    SCOPED_TRACE(std::string(policyName(policy)));
    auto balancer = makeBalancer(policy, specs(weights), 7);
    testing::expectSharesMatchWeights(testing::countPicks(*balancer), weights, 0.02);
  }
}

TEST(BalancerFactory, HashPoliciesUseTheEndpointKeysNotPositions) {
  for (Policy policy : {Policy::RingHash, Policy::Maglev}) {
    SCOPED_TRACE(std::string(policyName(policy)));
    auto endpoints = specs({1, 1, 1, 1});
    auto reversed = std::vector<EndpointSpec>(endpoints.rbegin(), endpoints.rend());
    auto a = makeBalancer(policy, endpoints, 1);
    auto b = makeBalancer(policy, reversed, 2);
    for (int k = 0; k < 1000; ++k) {
      const uint64_t h = hashKey("key" + std::to_string(k));
      EXPECT_EQ(*a->pick({.hash = h}), 3 - *b->pick({.hash = h}));
    }
  }
}

TEST(BalancerFactory, FirstPicksInListedOrder) {
  auto balancer = makeBalancer(Policy::First, specs({1, 9, 9}), 1);
  EXPECT_EQ(balancer->pick({}), 0u);
}

TEST(BalanceHash, HashKeyIsStableAndSpreads) {
  EXPECT_EQ(hashKey("abc"), hashKey(std::string("abc")));
  EXPECT_NE(hashKey("abc"), hashKey("abd"));
  EXPECT_EQ(hashKey(""), 0x2d06800538d394c2ULL);  // XXH3-64 of "", as published
  EXPECT_NE(hashPair(1, 2), hashPair(2, 1));
}

}  // namespace
}  // namespace weir::balance
