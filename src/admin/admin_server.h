// AdminServer: the admin endpoint's listening socket and its client sessions, served on the
// control thread's loop (never by workers). Each complete request goes to an AdminHandler.
// Created and closed on the control thread; close() before the loop is to end.
#pragma once

#include <memory>
#include <unordered_map>

#include "admin/admin_session.h"
#include "config/config.h"
#include "core/result.h"
#include "net/event_loop.h"
#include "net/socket_address.h"

namespace weir::admin {

class AdminServer {
 public:
  /// Beyond this many open admin connections, new ones are closed at once.
  static constexpr size_t kMaxSessions = 128;

  /// Opens the listening socket for `listen` (no SO_REUSEPORT: a port in use is an error).
  /// Any thread; call it early so that a bad address stops start-up.
  static Result<int> openSocket(const config::HostPort& listen);
  /// Serves connections on `fd` (from openSocket; adopted even on failure) on `loop`.
  static Result<std::unique_ptr<AdminServer>> start(net::EventLoop& loop, int fd,
                                                    AdminHandler handler);
  /// openSocket, then start.
  static Result<std::unique_ptr<AdminServer>> listen(net::EventLoop& loop,
                                                     const config::HostPort& listen,
                                                     AdminHandler handler);

  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// Stops listening and closes every session (answers still pending are dropped). Not from
  /// inside a session's callback.
  void close();

  /// The bound address (the actual port when configured with port 0).
  const net::SocketAddress& address() const { return address_; }
  size_t sessionCount() const { return sessions_.size(); }

 private:
  AdminServer(net::EventLoop& loop, AdminHandler handler);
  void onConnection();
  void sessionClosed(AdminSession* session);

  net::EventLoop& loop_;
  AdminHandler handler_;
  uv_tcp_t* listener_ = nullptr;
  net::SocketAddress address_;
  std::unordered_map<AdminSession*, std::unique_ptr<AdminSession>> sessions_;
};

}  // namespace weir::admin
