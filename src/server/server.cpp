#include "server/server.h"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>

#include "core/log.h"
#include "core/signals.h"
#include "net/socket_address.h"
#include "net/uv_handle.h"
#include "server/open_file_limit.h"
#include "server/pid_file.h"

namespace weir::server {
namespace {

uint64_t unixMs() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

void closeAll(std::vector<ListenFds>& fds) {
  for (auto& per_worker : fds)
    for (auto& [name, fd] : per_worker) ::close(fd);
  fds.clear();
}

}  // namespace

Server::Server(std::shared_ptr<const config::Config> config) : config_(std::move(config)) {}

Server::~Server() {
  for (auto& s : signals_) net::closeHandle(s);
  if (joiner_.joinable()) joiner_.join();
  for (auto& w : workers_) w->join();
}

// Opens the sockets of every listener that `previous` does not already serve at the same
// address: one SO_REUSEPORT copy per worker. On failure nothing stays open.
bool Server::openListeners(const proxy::Snapshot& snapshot, const proxy::Snapshot* previous,
                           std::vector<ListenFds>& fds) {
  fds.assign(workers_.empty() ? fds.size() : workers_.size(), {});
  for (const auto& lv : snapshot.listeners) {
    const config::HostPort& hp = lv.config->listen;
    if (previous) {
      auto old = previous->findListener(lv.config->name);
      if (old && previous->listeners[*old].config->listen.text == hp.text) continue;
    }
    auto address = net::SocketAddress::parseNumeric(hp.host, hp.port);
    if (!address) {
      log::error("listener ", lv.config->name, ": ", address.error().detail);
      closeAll(fds);
      return false;
    }
    net::SocketAddress bound = *address;
    if (bound.port() != 0) {
      // SO_REUSEPORT would let a second instance share the port silently: a plain bind first
      // makes "address in use" an error, as operators expect.
      auto probe = net::openListenSocket(bound, 1, /*reuse_port=*/false);
      if (!probe) {
        log::error("listener ", lv.config->name, ": ", probe.error().detail);
        closeAll(fds);
        return false;
      }
      ::close(*probe);
    }
    for (size_t w = 0; w < fds.size(); ++w) {
      auto fd = net::openListenSocket(bound, net::kListenBacklog);
      if (!fd) {
        log::error("listener ", lv.config->name, ": ", fd.error().detail);
        closeAll(fds);
        return false;
      }
      // A plain-HTTP request is answered by a response that carries the ACK; a TLS handshake
      // is a dialogue of partial reads, so its connections keep quick ACKs.
      net::delayFirstAcks(*fd, !lv.config->tls);
      if (w == 0) {  // port 0: every copy must share the port the first one got
        auto local = net::localAddress(*fd);
        if (local) bound = *local;
        log::notice("listener ", lv.config->name, " on ", bound.str());
      }
      fds[w][lv.config->name] = *fd;
    }
  }
  return true;
}

int Server::run() {
  std::signal(SIGPIPE, SIG_IGN);
  started_at_ms_ = unixMs();
  // Signals are handled from the start: one that arrives while the workers start is queued
  // and handled once the control loop runs, instead of killing the process.
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

  auto built = proxy::Snapshot::build(config_, 1);
  if (!built.ok()) {
    for (const auto& e : built.errors) log::error(e.str());
    return 1;
  }
  snapshot_ = std::move(built.snapshot);
  try {
    access_log_ = std::make_unique<proxy::AccessLogFile>(config_->access_log);
  } catch (const std::exception& e) {
    log::error(e.what());
    return 1;
  }
  size_t workers = config_->workers > 0 ? static_cast<size_t>(config_->workers)
                                        : std::max(1u, std::thread::hardware_concurrency());
  raiseOpenFileLimit(openFilesWanted(*config_, workers));
  std::vector<ListenFds> fds(workers);
  if (!openListeners(*snapshot_, nullptr, fds)) return 1;
  for (size_t i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(static_cast<int>(i), snapshot_, fds[i],
                                                access_log_.get(), &open_connections_));
    workers_.back()->setPassiveSink([this](std::string upstream, std::string server, bool failed) {
      loop_.post([this, upstream = std::move(upstream), server = std::move(server), failed] {
        if (health_) health_->onPassiveResult(upstream, server, failed);
      });
    });
    workers_.back()->start();
  }
  configureAlerts();
  health_ = std::make_unique<HealthChecker>(
      loop_,
      [this](alerts::StateChange change) {
        if (alert_sender_) alert_sender_->submit(std::move(change));
      },
      [this](std::shared_ptr<const health::HealthView> view) {
        for (auto& w : workers_) w->applyHealth(view);
      });
  health_->configure(snapshot_);
  configureWatch();
  last_reload_ = ReloadResult{true, snapshot_->generation, {}, started_at_ms_};
  pid_file_ = config_->pid_file == "off" ? "" : config_->pid_file;
  if (!pid_file_.empty()) {
    std::string why;
    if (!writePidFile(pid_file_, static_cast<int>(::getpid()), &why)) {
      log::warn("cannot write the pid file ", pid_file_, ": ", why, " (weir -s will not work)");
      pid_file_.clear();
    } else {
      writeReloadStatus(pid_file_, ReloadStatus{0, true, snapshot_->generation, {}});
    }
  }
  ready_ = true;
  if (on_start_) on_start_(*this);
  notifier_ = std::make_unique<SystemdNotifier>(*this);
  notifier_->ready();
  log::notice("weir started: ", workers, " workers, config ", config_->file);
  loop_.run();
  if (joiner_.joinable()) joiner_.join();
  for (auto& w : workers_) w->join();
  if (!pid_file_.empty()) removePidFile(pid_file_);
  log::notice("weir stopped");
  return 0;
}

ReloadResult Server::reload() {
  ReloadResult result = attemptReload();
  ++reload_attempts_;
  if (!pid_file_.empty())
    writeReloadStatus(pid_file_,
                      ReloadStatus{reload_attempts_, result.ok, result.generation, result.errors});
  return result;
}

ReloadResult Server::attemptReload() {
  ReloadResult result;
  result.at_unix_ms = unixMs();
  result.generation = generation();
  auto fail = [&](std::vector<std::string> errors) {
    for (const auto& e : errors) log::error("reload: ", e);
    log::error("reload failed; still serving generation ", generation());
    ++reload_failures_;
    result.errors = std::move(errors);
    last_reload_ = result;
    if (notifier_) notifier_->reloaded(false);
    return result;
  };
  if (stopping_) return fail({"shutting down"});
  if (notifier_) notifier_->reloading();
  auto loaded = config::loadFile(config_->file);
  if (!loaded.ok()) {
    std::vector<std::string> errors;
    for (const auto& e : loaded.errors) errors.push_back(e.str());
    return fail(std::move(errors));
  }
  // Settings read only at start-up keep their running values (a restart applies them), so
  // that what /config shows is what is in effect.
  config::Config next = std::move(*loaded.config);
  auto keep = [&](bool differs, const char* what) {
    if (differs) log::warn("reload: ", what, " changes only on restart; keeping the running one");
  };
  keep(next.workers != config_->workers, "workers");
  next.workers = config_->workers;
  keep(next.access_log.path != config_->access_log.path ||
           next.access_log.format != config_->access_log.format,
       "access_log");
  next.access_log = config_->access_log;
  keep(next.pid_file != config_->pid_file, "pid_file");
  next.pid_file = config_->pid_file;
  const bool admin_moved = next.admin.has_value() != config_->admin.has_value() ||
                           (next.admin && next.admin->listen.text != config_->admin->listen.text);
  keep(admin_moved, "admin.listen");
  if (admin_moved) {
    if (config_->admin && next.admin) {
      next.admin->listen = config_->admin->listen;  // the token follows the new file
    } else {
      next.admin = config_->admin;
    }
  }
  auto config = std::make_shared<const config::Config>(std::move(next));
  auto built = proxy::Snapshot::build(config, generation() + 1, snapshot_.get());
  if (!built.ok()) {
    std::vector<std::string> errors;
    for (const auto& e : built.errors) errors.push_back(e.str());
    return fail(std::move(errors));
  }
  std::vector<ListenFds> fds(workers_.size());
  if (!openListeners(*built.snapshot, snapshot_.get(), fds))
    return fail({config->file + ": cannot open the new listeners (see the log)"});
  config_ = config;
  raiseOpenFileLimit(openFilesWanted(*config_, workers_.size()));
  snapshot_ = std::move(built.snapshot);
  for (size_t i = 0; i < workers_.size(); ++i) workers_[i]->adopt(snapshot_, std::move(fds[i]));
  configureAlerts();
  if (health_) health_->configure(snapshot_);
  configureWatch();
  result.ok = true;
  result.generation = snapshot_->generation;
  last_reload_ = result;
  if (notifier_) notifier_->reloaded(true);
  log::notice("reloaded ", config_->file, ": generation ", result.generation);
  return result;
}

void Server::collectStats(std::function<void(StatsReport)> done) {
  struct Gather {
    size_t waiting;
    StatsReport merged;
    std::function<void(StatsReport)> done;
  };
  auto gather = std::make_shared<Gather>(Gather{workers_.size(), {}, std::move(done)});
  if (workers_.empty()) {
    gather->done(StatsReport{});
    return;
  }
  for (auto& w : workers_) {
    w->post([this, gather](Worker& worker) {
      StatsReport r = worker.report();
      loop_.post([gather, r = std::move(r)] {
        gather->merged.merge(r);
        if (--gather->waiting == 0) gather->done(std::move(gather->merged));
      });
    });
  }
}

void Server::forEachWorker(const std::function<void(Worker&)>& fn) {
  for (auto& w : workers_) w->post(fn);
}

void Server::beginShutdown() {
  if (stopping_) return;
  stopping_ = true;
  if (notifier_) notifier_->stopping();
  log::notice("shutting down (grace ", config_->timeouts.shutdown_grace.count(), "ms)");
  for (auto& w : workers_) w->shutdown(config_->timeouts.shutdown_grace);
  // Signals stay handled (a second SIGTERM changes nothing) until every worker is done.
  joiner_ = core::threadWithoutControlSignals([this] {
    for (auto& w : workers_) w->join();
    loop_.post([this] {
      if (on_stop_) on_stop_();
      if (notifier_) notifier_->close();
      if (health_) health_->close();
      net::closeHandle(watch_);
      watch_debounce_.reset();
      // The process is on its way out: a late signal must not kill it with the wrong status.
      // Closing the last uv_signal_t of a signal restores its default action (termination)
      // until SIG_IGN replaces it; blocked meanwhile (here, and in every other thread from
      // its start), a signal in between stays pending and SIG_IGN discards it.
      {
        core::ControlSignalsBlocked blocked;
        for (auto& s : signals_) net::closeHandle(s);
        signals_.clear();
        for (int signum : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) std::signal(signum, SIG_IGN);
      }
      loop_.closeInternalHandles();
    });
  });
}

// watch: true reloads when the config file changes. The folder is watched, not the file:
// editors and config management replace files by renaming, which a file watch would lose.
// Changes are debounced (300 ms) so a burst of writes gives one reload.
void Server::configureWatch() {
  if (!config_->watch || stopping_) {
    net::closeHandle(watch_);
    watch_debounce_.reset();
    return;
  }
  if (watch_) return;
  const std::string& file = config_->file;
  const size_t slash = file.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : file.substr(0, slash + 1);
  watch_debounce_ = std::make_unique<net::Timer>(loop_);
  watch_ = new uv_fs_event_t;
  uv_fs_event_init(loop_.raw(), watch_);
  watch_->data = this;
  int rc = uv_fs_event_start(
      watch_,
      [](uv_fs_event_t* h, const char* name, int, int status) {
        auto* self = static_cast<Server*>(h->data);
        if (!self || status < 0) return;
        const std::string& path = self->config_->file;
        const std::string base =
            path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
        if (name && base != name) return;
        self->watch_debounce_->start(std::chrono::milliseconds(300), [self] {
          log::notice("config file changed: reloading ", self->config_->file);
          self->reload();
        });
      },
      dir.c_str(), 0);
  if (rc != 0) {
    log::warn("watch: cannot watch ", dir, ": ", uv_strerror(rc));
    net::closeHandle(watch_);
  }
}

void Server::configureAlerts() {
  if (!config_->alerts) {
    alert_sender_.reset();
    return;
  }
  alerts::AlertsConfig ac;
  const config::Alerts& a = *config_->alerts;
  ac.batch_ms = static_cast<uint64_t>(a.batch.count());
  if (a.email) {
    alerts::EmailConfig e;
    e.url = a.email->url;
    e.from = a.email->from;
    e.to = a.email->to;
    e.username = a.email->username;
    e.password = a.email->password;
    e.starttls = a.email->starttls;
    ac.email = std::move(e);
  }
  if (a.webhook) {
    alerts::WebhookConfig w;
    w.url = a.webhook->url;
    ac.webhook = std::move(w);
  }
  if (alert_sender_) {
    alert_sender_->reconfigure(std::move(ac));
  } else {
    alert_sender_ = std::make_unique<alerts::AlertSender>(std::move(ac));
  }
}

void Server::onSignal(int signum) {
  switch (signum) {
    case SIGTERM:
    case SIGINT:
      log::notice("signal ", signum, " received");
      beginShutdown();
      break;
    case SIGUSR1:
      if (access_log_ && !access_log_->reopen()) log::error("cannot reopen the access log");
      log::notice("signal ", signum, ": log files reopened");
      break;
    case SIGHUP:
      log::notice("SIGHUP: reloading ", config_->file);
      reload();
      break;
    default:
      break;
  }
}

}  // namespace weir::server
