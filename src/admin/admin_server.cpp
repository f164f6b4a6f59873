#include "admin/admin_server.h"

#include <unistd.h>

#include <cassert>

#include "core/log.h"
#include "net/uv_handle.h"

namespace weir::admin {

Result<int> AdminServer::openSocket(const config::HostPort& listen) {
  auto address = net::SocketAddress::parseNumeric(listen.host, listen.port);
  if (!address) return address.error();
  return net::openListenSocket(*address, 128, /*reuse_port=*/false);
}

Result<std::unique_ptr<AdminServer>> AdminServer::start(net::EventLoop& loop, int fd,
                                                        AdminHandler handler) {
  std::unique_ptr<AdminServer> server(new AdminServer(loop, std::move(handler)));
  auto local = net::localAddress(fd);
  if (local) server->address_ = *local;
  server->listener_ = new uv_tcp_t;
  uv_tcp_init(loop.raw(), server->listener_);
  server->listener_->data = server.get();
  int rc = uv_tcp_open(server->listener_, fd);
  if (rc != 0) ::close(fd);  // not adopted: the handle does not own it
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(server->listener_), 128,
                   [](uv_stream_t* h, int status) {
                     auto* self = static_cast<AdminServer*>(h->data);
                     if (self && status == 0) self->onConnection();
                   });
  }
  if (rc != 0) {
    server->close();
    return Error{ErrorCode::Io, Side::Internal, false,
                 std::string("admin: cannot listen: ") + uv_strerror(rc)};
  }
  return server;
}

Result<std::unique_ptr<AdminServer>> AdminServer::listen(net::EventLoop& loop,
                                                         const config::HostPort& listen,
                                                         AdminHandler handler) {
  auto fd = openSocket(listen);
  if (!fd) return fd.error();
  return start(loop, *fd, std::move(handler));
}

AdminServer::AdminServer(net::EventLoop& loop, AdminHandler handler)
    : loop_(loop), handler_(std::move(handler)) {}

AdminServer::~AdminServer() { close(); }

void AdminServer::close() {
  net::closeHandle(listener_);
  // Taken out first: sessionClosed() finds nothing, and they are freed here (not deferred).
  auto sessions = std::move(sessions_);
  sessions_.clear();
  for (auto& [raw, owned] : sessions) owned->close();
}

void AdminServer::onConnection() {
  assert(loop_.isThisThread());
  auto session = std::make_unique<AdminSession>(loop_, handler_,
                                                [this](AdminSession* s) { sessionClosed(s); });
  AdminSession* raw = session.get();
  sessions_.emplace(raw, std::move(session));
  if (!raw->start(reinterpret_cast<uv_stream_t*>(listener_))) return;
  if (sessions_.size() > kMaxSessions) {
    log::warn("admin: more than ", kMaxSessions, " connections: closing a new one");
    raw->close();
  }
}

void AdminServer::sessionClosed(AdminSession* session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  loop_.deferDelete(std::move(it->second));  // we may be inside its callback
  sessions_.erase(it);
}

}  // namespace weir::admin
