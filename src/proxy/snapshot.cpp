#include "proxy/snapshot.h"

#include <utility>

#include "core/log.h"
#include "tls/client_tls_context.h"
#include "tls/file_checks.h"

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

SnapshotBuild Snapshot::build(std::shared_ptr<const config::Config> cfg, uint64_t generation,
                              const Snapshot* previous) {
  std::vector<config::ConfigError> errors;
  auto fail = [&](const config::Position& pos, std::string path, std::string message) {
    errors.push_back({cfg->file, pos, std::move(path), std::move(message)});
  };
  auto snap = std::make_shared<Snapshot>();
  snap->config = cfg;
  snap->generation = generation;
  for (size_t ui = 0; ui < cfg->upstreams.size(); ++ui) {
    const config::Upstream& u = cfg->upstreams[ui];
    const std::string path = "upstreams[" + std::to_string(ui) + "]";
    UpstreamView view;
    view.config = &u;
    for (size_t si = 0; si < u.servers.size(); ++si) {
      const config::Server& s = u.servers[si];
      auto addr = net::SocketAddress::resolve(s.address.host, s.address.port);
      if (!addr) {
        fail(s.pos, path + ".servers[" + std::to_string(si) + "]", addr.error().detail);
        continue;
      }
      upstream::Endpoint ep;
      ep.address = *addr;
      ep.name = s.address.text;
      ep.weight = s.weight;
      ep.backup = s.backup;
      ep.max_conns = s.max_conns;
      view.endpoints.push_back(std::move(ep));
    }
    if (u.tls && u.tls->enabled) {
      tls::ClientTlsConfig tc;
      tc.verify = u.tls->verify;
      tc.ca_file = u.tls->ca_file;
      tc.server_name = u.tls->server_name;
      tc.client_cert = u.tls->client_cert;
      tc.client_key = u.tls->client_key;
      // Every file problem first; create() would stop at the first.
      const auto problems = tls::fileProblems(tc);
      for (const auto& p : problems) fail(u.tls->pos, path + ".tls", p);
      if (problems.empty()) {
        auto ctx = tls::ClientTlsContext::create(tc);
        if (ctx)
          view.tls = *ctx;
        else
          fail(u.tls->pos, path + ".tls", ctx.error().detail);
      }
    }
    snap->upstreams.push_back(std::move(view));
  }
  for (size_t li = 0; li < cfg->listeners.size(); ++li) {
    const config::Listener& l = cfg->listeners[li];
    const std::string path = "listeners[" + std::to_string(li) + "]";
    ListenerView view{&l, routing::RouteTable(l.routes, path + ".routes"), {}};
    if (l.tls) {
      tls::ServerTlsConfig tc;
      for (const auto& c : l.tls->certificates) tc.certificates.push_back({c.cert, c.key});
      tc.min_version = l.tls->min_version;
      tc.ciphers = l.tls->ciphers;
      tc.alpn = l.tls->alpn;
      tc.session_tickets = l.tls->session_tickets;
      tc.client_ca = l.tls->client_ca;
      if (!tc.client_ca.empty())
        tc.client_auth = l.tls->client_auth == "optional" ? tls::ServerTlsConfig::Optional
                                                          : tls::ServerTlsConfig::Require;
      tc.ocsp_staple_file = l.tls->ocsp_staple;
      const auto problems = tls::fileProblems(tc);
      for (const auto& p : problems) fail(l.tls->pos, path + ".tls", p);
      if (problems.empty()) {
        const tls::ServerTlsContext* before = nullptr;
        if (previous) {
          if (auto i = previous->findListener(l.name)) before = previous->listeners[*i].tls.get();
        }
        std::vector<std::string> warnings;
        auto ctx = tls::ServerTlsContext::create(tc, &warnings, before);
        for (const auto& w : warnings)
          log::warn(cfg->file, ":", l.tls->pos.line, ":", l.tls->pos.col, ": ", path, ".tls: ", w);
        if (ctx)
          view.tls = *ctx;
        else
          fail(l.tls->pos, path + ".tls", ctx.error().detail);
      }
    }
    for (const auto& r : l.routes) {
      RouteView rv;
      if (r.upstream) rv.upstream = snap->findUpstream(*r.upstream);
      rv.request_edits = toEdits(r.request_headers);
      rv.response_edits = toEdits(r.response_headers);
      view.route_views.push_back(std::move(rv));
    }
    snap->listeners.push_back(std::move(view));
  }
  if (!errors.empty()) {
    config::sortInFileOrder(errors);
    return {nullptr, std::move(errors)};
  }
  return {std::move(snap), {}};
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
