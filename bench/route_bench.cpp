// RouteTable::match: ns per match over 10, 1,000 and 10,000 routes of mixed kinds (exact hosts,
// wildcard hosts, exact host + path prefix, any host + path prefix), for a request matching a
// route near the end of the table, for one matching none, and for a stream of requests spread
// over every route. `matched` reports the share of requests that got their intended route.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "config/config.h"
#include "routing/request_view.h"
#include "routing/route_table.h"

namespace {

using weir::config::Route;
using weir::routing::HeaderList;
using weir::routing::RequestView;
using weir::routing::RouteTable;

std::vector<Route> mixedRoutes(size_t n) {
  std::vector<Route> routes(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string id = std::to_string(i);
    switch (i % 4) {
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
      case 3:
        routes[i].match.path_prefix = "/app" + id + "/";
        break;
    }
    routes[i].upstream = "backend";
  }
  return routes;
}

// A request that route `i` of mixedRoutes() matches, and no earlier route.
struct Request {
  std::string host, path;
};
Request requestFor(size_t i) {
  const std::string id = std::to_string(i);
  switch (i % 4) {
    case 0:
      return {"svc" + id + ".example.com", "/index.html"};
    case 1:
      return {"www.team" + id + ".example.org:8080", "/static/app.js"};
    case 2:
      return {"API" + id + ".Example.net", "/v" + id + "/users/42"};
    default:
      return {"unknown.example.com", "/app" + id + "/settings"};
  }
}

void BM_RouteMatchNearEnd(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  RouteTable table(mixedRoutes(n));
  size_t target = n - 1;
  while (target % 4 != 2) --target;  // the last exact host + prefix route
  const Request req = requestFor(target);
  size_t matched = 0;
  for (auto _ : state) {
    auto index = table.match(req.host, req.path);
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

// Requests for routes picked uniformly at random, through the full RequestView API (method,
// query and headers present, though these routes do not test them).
void BM_RouteMatchSpread(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  RouteTable table(mixedRoutes(n));
  std::mt19937 rng(42);
  std::vector<std::pair<size_t, Request>> requests;
  for (int i = 0; i < 4096; ++i) {
    size_t target = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
    requests.emplace_back(target, requestFor(target));
  }
  HeaderList headers{{"User-Agent", "bench"}, {"Accept", "*/*"}};
  size_t k = 0, matched = 0;
  for (auto _ : state) {
    const auto& [target, r] = requests[k++ & 4095];
    RequestView req{
        .method = "GET", .host = r.host, .path = r.path, .query = "a=1", .headers = &headers};
    auto index = table.match(req);
    benchmark::DoNotOptimize(index);
    matched += index == target;
  }
  state.counters["matched"] =
      benchmark::Counter(static_cast<double>(matched), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_RouteMatchSpread)->Arg(10)->Arg(1000)->Arg(10000);

// Route tables build once per config load; how long that takes at each size.
void BM_RouteTableBuild(benchmark::State& state) {
  const std::vector<Route> routes = mixedRoutes(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    RouteTable table(routes);
    benchmark::DoNotOptimize(table);
  }
}
BENCHMARK(BM_RouteTableBuild)->Arg(10)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace
