// AdminApi: routes admin requests and answers them from the Server: health, stats (JSON, CSV,
// Prometheus), upstream server state changes applied on every worker, the running config,
// validation of a candidate config, reload, and the dashboard (page, history, live events).
// Mutating calls (anything but GET and HEAD) need `Authorization: Bearer <token>` when the
// config sets an admin token, and are refused (403) when they carry an Origin header, i.e. come
// from a browser page, unless that page is the dashboard itself (same origin, see
// dashboardOrigin()).
// Lives on the control thread; must outlive the AdminServer it serves.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_session.h"
#include "admin/dashboard.h"
#include "admin/stats_format.h"
#include "server/server.h"

namespace weir::admin {

class AdminApi {
 public:
  explicit AdminApi(server::Server& server);

  /// Answers `request` now or, for what needs the workers' counters, once they reported.
  void handle(AdminRequest request, Reply reply);
  /// The handler to serve. It also keeps the dashboard's 1 s sampler running for as long as it
  /// (or a copy) lives: the AdminServer holds it for its lifetime, so sampling starts with the
  /// admin server and its timer is closed with it. Control thread; the loop must be running or
  /// about to run.
  AdminHandler handler() {
    return [this, sampling = dashboard_.lease()](AdminRequest request, Reply reply) {
      handle(std::move(request), std::move(reply));
    };
  }

 private:
  bool authorized(const AdminRequest& request) const;
  bool tokenRequired() const;
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
  Dashboard dashboard_;
};

/// True when a browser request comes from a page of this very admin endpoint (the dashboard):
/// its Origin is `http://` + its Host, Sec-Fetch-Site (when sent) is same-origin, and, unless a
/// token is required (`token_required`), Host names the loopback by address or as localhost,
/// which DNS rebinding cannot borrow.
bool dashboardOrigin(const AdminRequest& request, bool token_required);

/// Splits an origin-form path into percent-decoded segments ("/a/b%2Fc" -> {"a", "b/c"}).
/// False on a malformed escape or a decoded NUL.
bool splitPath(std::string_view path, std::vector<std::string>& segments);

/// Constant-time equality (the time depends on the lengths only).
bool secretEquals(std::string_view given, std::string_view expected);

}  // namespace weir::admin
