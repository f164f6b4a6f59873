// The dashboard's static files (web/index.html, dashboard.js, dashboard.css and Chart.js's UMD
// build), compiled into the binary as byte arrays by cmake/EmbedAssets.cmake: the page works
// offline and loads nothing from another host. Immutable; any thread.
#pragma once

#include <span>
#include <string_view>

namespace weir::admin {

struct EmbeddedAsset {
  std::string_view name;  // file name, e.g. "dashboard.js"
  std::string_view body;
};

/// Every embedded file (defined in the generated dashboard_assets.cpp).
std::span<const EmbeddedAsset> dashboardAssets();

}  // namespace weir::admin
