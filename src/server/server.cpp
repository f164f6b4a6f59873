#include "server/server.h"

#include <unistd.h>

#include <csignal>
#include <thread>

#include "core/log.h"
#include "net/socket_address.h"
#include "net/uv_handle.h"

namespace weir::server {

Server::Server(std::shared_ptr<const config::Config> config) : config_(std::move(config)) {}

Server::~Server() {
  for (auto& s : signals_) net::closeHandle(s);
  if (joiner_.joinable()) joiner_.join();
  for (auto& w : workers_) w->join();
}

bool Server::openListeners(const proxy::Snapshot& snapshot, size_t workers,
                           std::vector<std::vector<int>>& fds) {
  fds.assign(workers, {});
  for (const auto& lv : snapshot.listeners) {
    const config::HostPort& hp = lv.config->listen;
    auto address = net::SocketAddress::parseNumeric(hp.host, hp.port);
    if (!address) {
      log::error("listener ", lv.config->name, ": ", address.error().detail);
      return false;
    }
    net::SocketAddress bound = *address;
    if (bound.port() != 0) {
      // SO_REUSEPORT would let a second instance share the port silently: a plain bind first
      // makes "address in use" an error, as operators expect.
      auto probe = net::openListenSocket(bound, 1, /*reuse_port=*/false);
      if (!probe) {
        log::error("listener ", lv.config->name, ": ", probe.error().detail);
        return false;
      }
      ::close(*probe);
    }
    for (size_t w = 0; w < workers; ++w) {
      auto fd = net::openListenSocket(bound, 511);
      if (!fd) {
        log::error("listener ", lv.config->name, ": ", fd.error().detail);
        return false;
      }
      if (w == 0) {  // port 0: every copy must share the port the first one got
        auto local = net::localAddress(*fd);
        if (local) bound = *local;
        log::notice("listener ", lv.config->name, " on ", bound.str());
      }
      fds[w].push_back(*fd);
    }
  }
  return true;
}

int Server::run() {
  std::signal(SIGPIPE, SIG_IGN);
  auto snapshot = proxy::Snapshot::build(config_, 1);
  if (!snapshot) {
    log::error(snapshot.error().detail);
    return 1;
  }
  try {
    access_log_ = std::make_unique<proxy::AccessLogFile>(config_->access_log);
  } catch (const std::exception& e) {
    log::error(e.what());
    return 1;
  }
  size_t workers = config_->workers > 0 ? static_cast<size_t>(config_->workers)
                                        : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::vector<int>> fds;
  if (!openListeners(**snapshot, workers, fds)) {
    for (auto& list : fds)
      for (int fd : list) ::close(fd);
    return 1;
  }
  for (size_t i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(static_cast<int>(i), *snapshot, fds[i],
                                                access_log_.get(), &open_connections_));
    workers_.back()->start();
  }
  for (int signum : {SIGTERM, SIGINT, SIGUSR1, SIGHUP}) {
    auto* h = new uv_signal_t;
    uv_signal_init(loop_.raw(), h);
    h->data = this;
    uv_signal_start(
        h,
        [](uv_signal_t* sh, int sig) {
          if (auto* self = static_cast<Server*>(sh->data)) self->onSignal(sig);
        },
        signum);
    signals_.push_back(h);
  }
  log::notice("weir started: ", workers, " workers, config ", config_->file);
  loop_.run();
  if (joiner_.joinable()) joiner_.join();
  for (auto& w : workers_) w->join();
  log::notice("weir stopped");
  return 0;
}

void Server::onSignal(int signum) {
  switch (signum) {
    case SIGTERM:
    case SIGINT: {
      if (stopping_) return;
      stopping_ = true;
      log::notice("signal ", signum, ": shutting down (grace ",
                  config_->timeouts.shutdown_grace.count(), "ms)");
      for (auto& w : workers_) w->shutdown(config_->timeouts.shutdown_grace);
      // Signals stay handled (a second SIGTERM changes nothing) until every worker is done.
      joiner_ = std::thread([this] {
        for (auto& w : workers_) w->join();
        loop_.post([this] {
          for (auto& s : signals_) net::closeHandle(s);
          signals_.clear();
          loop_.closeInternalHandles();
        });
      });
      break;
    }
    case SIGUSR1:
      if (access_log_ && !access_log_->reopen()) log::error("cannot reopen the access log");
      log::notice("signal ", signum, ": log files reopened");
      break;
    case SIGHUP:
      log::warn("SIGHUP: configuration reload is not supported yet; restart to apply changes");
      break;
    default:
      break;
  }
}

}  // namespace weir::server
