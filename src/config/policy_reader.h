// Readers for the failure-handling sections of the config: health_check, passive, retries
// (upstreams and routes) and alerts. Free functions over the load's Reader; loading thread.
#pragma once

#include "config/config.h"
#include "config/reader.h"

namespace weir::config {

HealthCheck readHealthCheck(Reader& r, const Item& item);
Passive readPassive(Reader& r, const Item& item);
Retries readRetries(Reader& r, const Item& item);
Alerts readAlerts(Reader& r, const Item& item);
/// "200-399" or "204": the inclusive range, or nullopt.
std::optional<std::pair<int, int>> parseStatusRange(const std::string& text);
/// Reads a secret from a file (trailing whitespace dropped); reports at `at` on failure.
std::optional<std::string> readSecretFile(Reader& r, const Item& at, const std::string& path);

}  // namespace weir::config
