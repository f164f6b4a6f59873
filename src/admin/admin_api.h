// AdminApi: routes admin requests and answers them from the Server: health, stats (JSON, CSV,
// Prometheus), upstream server state changes applied on every worker, the running config,
// validation of a candidate config, and reload. Mutating calls (anything but GET and HEAD)
// need `Authorization: Bearer <token>` when the config sets an admin token, and are refused
// (403) when they carry an Origin header, i.e. come from a browser page.
// Lives on the control thread; must outlive the AdminServer it serves.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_session.h"
#include "admin/stats_format.h"
#include "server/server.h"

namespace weir::admin {

class AdminApi {
 public:
  explicit AdminApi(server::Server& server);

  /// Answers `request` now or, for what needs the workers' counters, once they reported.
  void handle(AdminRequest request, Reply reply);
  AdminHandler handler() {
    return
        [this](AdminRequest request, Reply reply) { handle(std::move(request), std::move(reply)); };
  }

 private:
  bool authorized(const AdminRequest& request) const;
  ProcessInfo processInfo() const;

  void getStats(Reply reply, bool csv, bool prometheus);
  void getUpstreams(Reply reply);
  void getUpstream(const std::string& name, Reply reply);
  void setServer(const AdminRequest& request, const std::string& upstream,
                 const std::string& address, std::string_view action, Reply reply);
  void validateConfig(const AdminRequest& request, Reply reply);
  void reload(const AdminRequest& request, Reply reply);

  server::Server& server_;
  std::string startup_token_;  // used when a reload drops the admin section
};

/// Splits an origin-form path into percent-decoded segments ("/a/b%2Fc" -> {"a", "b/c"}).
/// False on a malformed escape or a decoded NUL.
bool splitPath(std::string_view path, std::vector<std::string>& segments);

/// Constant-time equality (the time depends on the lengths only).
bool secretEquals(std::string_view given, std::string_view expected);

}  // namespace weir::admin
