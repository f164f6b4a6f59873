// The dashboard's history: one Sample per second (per-second deltas of the merged worker
// counters, gauges, per-second latency quantiles, per-server state), kept in a HistoryRing of
// the last 15 minutes. Plain values and pure functions (no <uv.h>); the Dashboard fills the ring
// on the control thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/histogram.h"
#include "server/stats_report.h"

namespace weir::admin {

/// What the timeline shows for a server: the admin state wins (disabled, draining), then the
/// health checker's view (ejected, unhealthy, healthy); unknown when nothing checks it.
enum class ServerState : uint8_t { Unknown, Healthy, Unhealthy, Ejected, Draining, Disabled };
std::string_view serverStateName(ServerState s);
/// `admin` from the workers' report (enabled | draining | disabled), `health` from
/// Server::healthOf (healthy | unhealthy | ejected | unknown).
ServerState combineState(std::string_view admin, std::string_view health);

/// Names that stay the same from one sample to the next (shared by consecutive samples until a
/// reload changes them): upstreams with their servers, routes with a readable label.
struct SampleLayout {
  struct Upstream {
    std::string name;
    std::vector<std::string> servers;  // addresses
    bool operator==(const Upstream&) const = default;
  };
  struct Route {
    std::string listener;
    size_t index = 0;
    std::string label;  // e.g. "path_prefix /api -> api"
    bool operator==(const Route&) const = default;
  };
  std::vector<Upstream> upstreams;
  std::vector<Route> routes;
  bool operator==(const SampleLayout&) const = default;
};

struct ServerSample {
  ServerState state = ServerState::Unknown;
  uint8_t admin = 0;   // 0 enabled, 1 draining, 2 disabled
  uint8_t health = 0;  // 0 unknown, 1 healthy, 2 unhealthy, 3 ejected
  int32_t weight = 0;
  uint32_t in_flight = 0;
  uint64_t requests_total = 0;  // cumulative
  uint32_t requests = 0;        // in this second
  uint32_t errors = 0;          // 5xx responses in this second
  float p99_ms = 0;             // of the requests that ended in this second
};

struct RouteSample {
  uint32_t requests = 0;  // in this second
  uint32_t errors = 0;    // 5xx responses in this second
};

/// One second of the whole process; `layout` names the entries of `servers` (flattened in
/// layout order: upstream by upstream) and `routes`.
struct Sample {
  uint64_t at_unix_ms = 0;
  uint64_t generation = 0;
  // Cumulative since start.
  TrafficCounters totals;
  uint64_t connections_accepted = 0;
  // Gauges.
  uint64_t connections_open = 0;
  // This second.
  TrafficCounters delta;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0;
  std::shared_ptr<const SampleLayout> layout;
  std::vector<ServerSample> servers;
  std::vector<RouteSample> routes;
};

/// Fixed-capacity ring, oldest sample first; a full ring drops its oldest on push.
class HistoryRing {
 public:
  static constexpr size_t kDefaultCapacity = 900;  // 15 minutes of one-second samples

  explicit HistoryRing(size_t capacity = kDefaultCapacity);
  void push(Sample sample);
  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }
  /// i = 0 is the oldest; i < size().
  const Sample& at(size_t i) const;
  const Sample* newest() const { return size_ ? &at(size_ - 1) : nullptr; }
  void clear();

 private:
  std::vector<Sample> slots_;
  size_t head_ = 0;  // index of the oldest
  size_t size_ = 0;
};

/// Turns successive merged reports into Samples. A counter that went down (a reload replaced
/// the route table, or a server's runtime) restarts from zero: its delta is its new value.
class SampleBuilder {
 public:
  using HealthOf =
      std::function<std::string(const std::string& upstream, const std::string& server)>;

  /// The first call only records the baseline and returns false; later calls fill `out` with
  /// the change since the previous report and return true.
  bool next(const server::StatsReport& report, uint64_t at_unix_ms, uint64_t generation,
            const config::Config* config, const HealthOf& health, Sample& out);
  void reset() { previous_.reset(); }

 private:
  std::unique_ptr<server::StatsReport> previous_;
  std::shared_ptr<const SampleLayout> layout_;
};

/// Quantile (0..1) in microseconds of histogram bucket counts (LatencyHistogram's buckets and
/// interpolation); 0 when empty.
double bucketQuantileUs(const std::array<uint64_t, LatencyHistogram::kBuckets>& counts, double q);
/// The per-bucket change from `before` to `after` (all of `after` when any bucket went down).
std::array<uint64_t, LatencyHistogram::kBuckets> bucketDelta(const LatencyHistogram& before,
                                                             const LatencyHistogram& after);
/// A route's label from its config: match conditions, then its action.
std::string routeLabel(const config::Route& route);

/// The JSON of one sample (one line, used by /stats/history and by /events).
nlohmann::ordered_json sampleJson(const Sample& s);

}  // namespace weir::admin
