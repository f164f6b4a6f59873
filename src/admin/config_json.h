// The running config as JSON for `GET /config`, and the difference between two configs for
// `POST /config/validate`. Keys follow the YAML file; durations are written as in the file
// ("2s", "500ms"), sizes in bytes. Secrets are left out: the admin token never appears (its
// file path does). Source positions are left out too. Pure functions; any thread.
#pragma once

#include <nlohmann/json.hpp>

#include "config/config.h"

namespace weir::admin {

nlohmann::ordered_json configJson(const config::Config& config);

/// What applying `next` over `current` would change, compared by name (servers by
/// upstream/address, routes by listener/index); an entry is "changed" when any of its fields
/// differs:
/// {listeners|routes|upstreams|servers: {added: [...], removed: [...], changed: [...]},
///  settings: {changed: ["limits", ...]}}.
nlohmann::ordered_json configChanges(const config::Config& current, const config::Config& next);

/// "2s", "500ms", "1m", "1h": the largest unit that divides the value exactly.
std::string durationText(std::chrono::milliseconds d);

}  // namespace weir::admin
