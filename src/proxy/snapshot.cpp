#include "proxy/snapshot.h"

namespace weir::proxy {

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
      view.endpoints.push_back(std::move(ep));
    }
    snap->upstreams.push_back(std::move(view));
  }
  for (const auto& l : cfg->listeners) {
    ListenerView view{&l, routing::RouteTable(l.routes), {}};
    for (const auto& r : l.routes) {
      std::optional<size_t> index;
      if (r.upstream) {
        for (size_t i = 0; i < cfg->upstreams.size(); ++i)
          if (cfg->upstreams[i].name == *r.upstream) index = i;
      }
      view.route_upstream.push_back(index);
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
