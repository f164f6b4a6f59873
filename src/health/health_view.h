// HealthView: the health of every upstream server, as the control thread last saw it (active
// checks and outlier ejection combined). Built on the control thread, then published immutable
// to workers as std::shared_ptr<const HealthView>; each publication has a new generation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weir::health {

enum class EndpointHealth : uint8_t {
  Healthy,
  Unhealthy,  // failing active checks, or ejected as an outlier
  Unknown,    // no checks configured, or none finished yet: treat as usable
};

constexpr std::string_view endpointHealthName(EndpointHealth health) {
  switch (health) {
    case EndpointHealth::Healthy:
      return "healthy";
    case EndpointHealth::Unhealthy:
      return "unhealthy";
    case EndpointHealth::Unknown:
      return "unknown";
  }
  return "unknown";
}

/// Plain value: upstreams by name, each with its servers by name, in config order. Lookups are
/// linear; a worker resolves its cluster's servers once per generation, not per request.
struct HealthView {
  struct Server {
    std::string name;
    EndpointHealth health = EndpointHealth::Unknown;
  };
  struct Upstream {
    std::string name;
    std::vector<Server> servers;
  };

  uint64_t generation = 0;
  std::vector<Upstream> upstreams;

  /// The upstream called `name`, or null.
  const Upstream* findUpstream(std::string_view name) const {
    for (const Upstream& u : upstreams) {
      if (u.name == name) return &u;
    }
    return nullptr;
  }

  /// Health of `server` in `upstream`; none when either is not in the view.
  std::optional<EndpointHealth> find(std::string_view upstream, std::string_view server) const {
    const Upstream* u = findUpstream(upstream);
    if (!u) return std::nullopt;
    for (const Server& s : u->servers) {
      if (s.name == server) return s.health;
    }
    return std::nullopt;
  }
};

}  // namespace weir::health
