// Snapshot: an immutable, fully resolved view of one config generation: compiled route tables,
// route-to-upstream links and resolved endpoint addresses. Built on the control thread, read by
// every worker through std::shared_ptr<const Snapshot>; a request keeps the one it started with.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "http/proxy_headers.h"
#include "routing/route_table.h"
#include "tls/server_tls_context.h"
#include "upstream/cluster.h"

namespace weir::proxy {

/// What the proxy needs per route beyond its config: the upstream it names, resolved, and its
/// header changes in the form the serializer applies.
struct RouteView {
  std::optional<size_t> upstream;  // index into Snapshot::upstreams
  http::HeaderEdits request_edits;
  http::HeaderEdits response_edits;
};

struct ListenerView {
  const config::Listener* config;
  routing::RouteTable routes;
  std::vector<RouteView> route_views;                // per route
  std::shared_ptr<const tls::ServerTlsContext> tls;  // null: plain HTTP
};

using upstream::UpstreamView;

struct Snapshot;

/// What Snapshot::build gives: the snapshot, or every problem found building it.
struct SnapshotBuild {
  std::shared_ptr<const Snapshot> snapshot;  // null when errors is not empty
  std::vector<config::ConfigError> errors;   // in file order
  bool ok() const { return snapshot != nullptr; }
};

struct Snapshot {
  std::shared_ptr<const config::Config> config;
  uint64_t generation = 0;
  std::vector<ListenerView> listeners;
  std::vector<UpstreamView> upstreams;

  /// Index of the listener named `name`, or nullopt.
  std::optional<size_t> findListener(std::string_view name) const;
  std::optional<size_t> findUpstream(std::string_view name) const;

  /// Compiles routes, resolves every server address and loads every TLS file (blocking DNS and
  /// file reads: control thread only). Problems do not stop it: each server that does not
  /// resolve and each TLS file that does not load is one error, at the position of its server
  /// entry or `tls` block. `previous` (optional) lends its TLS ticket keys so sessions resume
  /// across a reload.
  static SnapshotBuild build(std::shared_ptr<const config::Config> cfg, uint64_t generation,
                             const Snapshot* previous = nullptr);
};

}  // namespace weir::proxy
