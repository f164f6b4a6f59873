#include "proxy/snapshot.h"

namespace weir::proxy {

Result<std::shared_ptr<const Snapshot>> Snapshot::build(std::shared_ptr<const config::Config> cfg,
                                                        uint64_t generation) {
  auto snap = std::make_shared<Snapshot>();
  snap->config = cfg;
  snap->generation = generation;
  for (const auto& u : cfg->upstreams) {
    UpstreamView view{&u, {}};
    for (const auto& s : u.servers) {
      auto addr = net::SocketAddress::resolve(s.address.host, s.address.port);
      if (!addr) {
        Error e = addr.error();
        e.detail = "upstream " + u.name + ": " + e.detail;
        return e;
      }
      view.endpoints.push_back(upstream::Endpoint{*addr, s.address.text, s.weight});
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
