#include "server/stats_report.h"

#include <algorithm>

namespace weir::server {
namespace {

template <typename T>
T& findOrAdd(std::vector<T>& list, const std::string& name) {
  for (auto& item : list)
    if (item.name == name) return item;
  list.push_back(T{});
  list.back().name = name;
  return list.back();
}

}  // namespace

void StatsReport::merge(const StatsReport& other) {
  totals.connections_accepted += other.totals.connections_accepted;
  totals.connections_rejected += other.totals.connections_rejected;
  totals.connections_open += other.totals.connections_open;
  for (const auto& [reason, n] : other.totals.tls_handshake_failures)
    totals.tls_handshake_failures[reason] += n;
  totals.traffic.merge(other.totals.traffic);
  for (size_t i = 0; i < totals.failures.size(); ++i)
    totals.failures[i] += other.totals.failures[i];
  totals.latency.merge(other.totals.latency);
  for (const auto& l : other.listeners) {
    ListenerReport& mine = findOrAdd(listeners, l.name);
    if (mine.address.empty()) mine.address = l.address;
    mine.connections += l.connections;
    mine.traffic.merge(l.traffic);
    if (mine.routes.size() < l.routes.size()) mine.routes.resize(l.routes.size());
    for (size_t i = 0; i < l.routes.size(); ++i) mine.routes[i].merge(l.routes[i]);
  }
  for (const auto& u : other.upstreams) {
    UpstreamReport& mine = findOrAdd(upstreams, u.name);
    for (const auto& s : u.servers) {
      auto it = std::find_if(mine.servers.begin(), mine.servers.end(),
                             [&](const ServerReport& x) { return x.address == s.address; });
      if (it == mine.servers.end()) {
        mine.servers.push_back(s);
        continue;
      }
      it->in_flight += s.in_flight;
      it->idle_connections += s.idle_connections;
      it->traffic.merge(s.traffic);
      it->failures += s.failures;
      it->connect_failures += s.connect_failures;
      it->latency.merge(s.latency);
    }
  }
}

}  // namespace weir::server
