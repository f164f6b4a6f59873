#include "health/health_view.h"

#include <gtest/gtest.h>

namespace weir::health {
namespace {

HealthView sample() {
  HealthView v;
  v.generation = 7;
  v.upstreams = {
      {"api",
       {{"10.0.0.1:80", EndpointHealth::Healthy}, {"10.0.0.2:80", EndpointHealth::Unhealthy}}},
      {"static", {{"10.0.1.1:80", EndpointHealth::Unknown}}},
      {"empty", {}},
  };
  return v;
}

TEST(HealthView, FindsAServerByUpstreamAndName) {
  const HealthView v = sample();
  EXPECT_EQ(v.find("api", "10.0.0.1:80"), EndpointHealth::Healthy);
  EXPECT_EQ(v.find("api", "10.0.0.2:80"), EndpointHealth::Unhealthy);
  EXPECT_EQ(v.find("static", "10.0.1.1:80"), EndpointHealth::Unknown);
}

TEST(HealthView, MissingUpstreamOrServerGivesNothing) {
  const HealthView v = sample();
  EXPECT_FALSE(v.find("nope", "10.0.0.1:80"));
  EXPECT_FALSE(v.find("static", "10.0.0.1:80")) << "servers are looked up per upstream";
  EXPECT_FALSE(v.find("empty", "x"));
  EXPECT_FALSE(HealthView{}.find("api", "10.0.0.1:80"));
}

TEST(HealthView, FindUpstreamReturnsItsServers) {
  const HealthView v = sample();
  const HealthView::Upstream* u = v.findUpstream("api");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->servers.size(), 2u);
  EXPECT_EQ(v.findUpstream("nope"), nullptr);
}

TEST(HealthView, StatesHaveNames) {
  EXPECT_EQ(endpointHealthName(EndpointHealth::Healthy), "healthy");
  EXPECT_EQ(endpointHealthName(EndpointHealth::Unhealthy), "unhealthy");
  EXPECT_EQ(endpointHealthName(EndpointHealth::Unknown), "unknown");
}

}  // namespace
}  // namespace weir::health
