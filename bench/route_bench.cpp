// RouteTable::match: ns per match over 10, 1000 and 10000 routes (a third exact hosts, a third
// wildcard hosts, a third exact host + path prefix), for a request matching a route near the
// end of the table and for one matching none (a full scan).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "routing/route_table.h"

namespace {

using weir::config::Route;
using weir::routing::RouteTable;

std::vector<Route> mixedRoutes(size_t n) {
  std::vector<Route> routes(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string id = std::to_string(i);
    switch (i % 3) {
      case 0:
        routes[i].match.host = "svc" + id + ".example.com";
        break;
      case 1:
        routes[i].match.host = "*.team" + id + ".example.org";
        break;
      case 2:
        routes[i].match.host = "api" + id + ".example.net";
        routes[i].match.path_prefix = "/v" + id + "/";
        break;
    }
    routes[i].upstream = "backend";
  }
  return routes;
}

void BM_RouteMatchNearEnd(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  RouteTable table(mixedRoutes(n));
  // The last prefix route (i % 3 == 2): at most two routes from the end.
  size_t target = n - 1;
  while (target % 3 != 2) --target;
  const std::string host = "API" + std::to_string(target) + ".Example.net:8443";
  const std::string path = "/v" + std::to_string(target) + "/users/42";
  size_t matched = 0;
  for (auto _ : state) {
    auto index = table.match(host, path);
    benchmark::DoNotOptimize(index);
    matched += index == target;
  }
  state.counters["matched"] =
      benchmark::Counter(static_cast<double>(matched), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_RouteMatchNearEnd)->Arg(10)->Arg(1000)->Arg(10000);

void BM_RouteMatchMiss(benchmark::State& state) {
  RouteTable table(mixedRoutes(static_cast<size_t>(state.range(0))));
  for (auto _ : state) {
    auto index = table.match("unknown.example.com", "/v1/users");
    benchmark::DoNotOptimize(index);
  }
}
BENCHMARK(BM_RouteMatchMiss)->Arg(10)->Arg(1000)->Arg(10000);

}  // namespace
