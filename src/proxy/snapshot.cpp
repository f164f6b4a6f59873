#include "proxy/snapshot.h"

namespace weir::proxy {
namespace {

http::HeaderEdits toEdits(const config::HeaderOps& ops) {
  http::HeaderEdits e;
  for (const auto& h : ops.set) e.set.push_back({h.name, h.value});
  for (const auto& h : ops.add) e.add.push_back({h.name, h.value});
  for (const auto& name : ops.remove) e.remove.push_back(name);
  return e;
}

}  // namespace

Result<std::shared_ptr<const Snapshot>> Snapshot::build(std::shared_ptr<const config::Config> cfg,
                                                        uint64_t generation) {
  auto snap = std::make_shared<Snapshot>();
  snap->config = cfg;
  snap->generation = generation;
  for (const auto& u : cfg->upstreams) {
    UpstreamView view;
    view.config = &u;
    for (const auto& s : u.servers) {
      auto addr = net::SocketAddress::resolve(s.address.host, s.address.port);
      if (!addr) {
        Error e = addr.error();
        e.detail = "upstream " + u.name + ": " + e.detail;
        return e;
      }
      upstream::Endpoint ep;
      ep.address = *addr;
      ep.name = s.address.text;
      ep.weight = s.weight;
      ep.backup = s.backup;
      ep.max_conns = s.max_conns;
      view.endpoints.push_back(std::move(ep));
    }
    snap->upstreams.push_back(std::move(view));
  }
  for (size_t li = 0; li < cfg->listeners.size(); ++li) {
    const config::Listener& l = cfg->listeners[li];
    ListenerView view{&l,
                      routing::RouteTable(l.routes, "listeners[" + std::to_string(li) + "].routes"),
                      {}};
    for (const auto& r : l.routes) {
      RouteView rv;
      if (r.upstream) rv.upstream = snap->findUpstream(*r.upstream);
      rv.request_edits = toEdits(r.request_headers);
      rv.response_edits = toEdits(r.response_headers);
      view.route_views.push_back(std::move(rv));
    }
    snap->listeners.push_back(std::move(view));
  }
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

}  // namespace weir::proxy

namespace weir::proxy {

std::optional<size_t> Snapshot::findListener(std::string_view name) const {
  for (size_t i = 0; i < listeners.size(); ++i)
    if (listeners[i].config->name == name) return i;
  return std::nullopt;
}

std::optional<size_t> Snapshot::findUpstream(std::string_view name) const {
  for (size_t i = 0; i < upstreams.size(); ++i)
    if (upstreams[i].config->name == name) return i;
  return std::nullopt;
}

}  // namespace weir::proxy
