// Helpers shared by the loader tests: YAML text written in the test, loaded as "t.yaml".
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace weir::config {

// Drops the newline after R"( so that line 1 of the YAML is the first line shown.
inline std::string yaml(std::string_view text) {
  if (text.starts_with('\n')) text.remove_prefix(1);
  return std::string(text);
}

inline std::vector<std::string> errorsOf(std::string_view text) {
  LoadResult r = loadString(yaml(text), "t.yaml");
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) out.push_back(e.str());
  EXPECT_EQ(r.ok(), out.empty());
  return out;
}

using Errors = std::vector<std::string>;

inline Config load(std::string_view text) {
  LoadResult r = loadString(yaml(text), "t.yaml");
  for (const ConfigError& e : r.errors) ADD_FAILURE() << e.str();
  if (!r.config) return Config{};
  return std::move(*r.config);
}

// A minimal valid config, for tests that only care about the sections appended to it.
inline constexpr std::string_view kMinimal = R"(
listeners:
  - name: public
    listen: 127.0.0.1:8080
    routes:
      - respond: {status: 204}
)";

inline std::string minimalWith(std::string_view more) { return yaml(kMinimal) + yaml(more); }

// An upstream "web" (connect 500ms, response 7s) and one listener whose routes are `routes`,
// written as list entries indented by 6; the first route is on line 9.
inline std::string withRoutes(std::string_view routes) {
  return yaml(R"(
upstreams:
  - name: web
    servers: [{address: 127.0.0.1:9001}]
    timeouts: {connect: 500ms, response: 7s}
listeners:
  - name: public
    listen: 127.0.0.1:8080
    routes:
)") + yaml(routes);
}

}  // namespace weir::config
