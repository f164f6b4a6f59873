#include "server/worker.h"

#include <unistd.h>

#include <cassert>
#include <random>

#include "core/log.h"
#include "core/signals.h"
#include "net/socket_address.h"
#include "net/uv_handle.h"

namespace weir::server {

Worker::Worker(int id, std::shared_ptr<const proxy::Snapshot> snapshot, ListenFds fds,
               const proxy::AccessLogFile* access_log, std::atomic<uint64_t>* open_connections)
    : id_(id),
      snapshot_(std::move(snapshot)),
      initial_fds_(std::move(fds)),
      access_log_(access_log),
      request_ids_(std::random_device{}() ^ (static_cast<uint64_t>(id) << 32)),
      open_connections_(open_connections),
      seed_(std::random_device{}() + static_cast<uint64_t>(id)) {}

Worker::~Worker() { join(); }

void Worker::start() {
  thread_ = core::threadWithoutControlSignals([this] { run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::post(std::function<void(Worker&)> fn) {
  loop_.post([this, fn = std::move(fn)] { fn(*this); });
}

void Worker::shutdown(std::chrono::milliseconds grace) {
  loop_.post([this, grace] { beginShutdown(grace); });
}

void Worker::adopt(std::shared_ptr<const proxy::Snapshot> snapshot, ListenFds fds) {
  loop_.post([this, snapshot = std::move(snapshot), fds = std::move(fds)]() mutable {
    if (draining_) {
      for (auto& [name, fd] : fds) ::close(fd);
      return;
    }
    applySnapshot(std::move(snapshot), std::move(fds));
  });
}

void Worker::run() {
  loop_.adoptThread();
  auto first = snapshot_;
  snapshot_.reset();
  applySnapshot(std::move(first), std::move(initial_fds_));
  // Access-log lines are written once per loop iteration, whatever number of requests it ran.
  flush_check_ = new uv_check_t;
  uv_check_init(loop_.raw(), flush_check_);
  flush_check_->data = this;
  uv_check_start(flush_check_, [](uv_check_t* h) {
    if (auto* self = static_cast<Worker*>(h->data)) self->access_log_.flush();
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(flush_check_));

  int rc = loop_.run();
  if (rc != 0) log::error("worker ", id_, ": loop closed with handles open: ", uv_strerror(rc));
}

void Worker::openListener(const std::string& name, int fd) {
  auto l = std::make_unique<Listener>(Listener{this, name, new uv_tcp_t});
  uv_tcp_init(loop_.raw(), l->handle);
  l->handle->data = l.get();
  int rc = uv_tcp_open(l->handle, fd);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(l->handle), net::kListenBacklog,
                   [](uv_stream_t* server, int status) {
                     auto* listener = static_cast<Listener*>(server->data);
                     if (listener && status == 0) listener->worker->onConnection(*listener);
                   });
  }
  if (rc != 0) log::error("worker ", id_, ": cannot listen: ", uv_strerror(rc));
  listeners_.push_back(std::move(l));
}

// Reconciles everything with `snapshot`: clusters by upstream name (unchanged servers keep their
// pools, counters and runtime state), listener counters by name, listening sockets by name.
void Worker::applySnapshot(std::shared_ptr<const proxy::Snapshot> snapshot, ListenFds fds) {
  assert(loop_.isThisThread());
  std::vector<std::shared_ptr<upstream::Cluster>> clusters;
  for (const auto& view : snapshot->upstreams) {
    std::shared_ptr<upstream::Cluster> cluster;
    for (auto& old : clusters_) {
      if (old && old->config().name == view.config->name) {
        cluster = std::move(old);
        break;
      }
    }
    if (cluster) {
      cluster->reconcile(snapshot, view);
    } else {
      cluster = std::make_shared<upstream::Cluster>(loop_, snapshot, view, seed_++ % 1024);
    }
    clusters.push_back(std::move(cluster));
  }
  for (auto& old : clusters_)
    if (old) old->closeIdle();  // removed upstreams: exchanges in flight keep them alive
  clusters_ = std::move(clusters);
  if (health_)
    for (auto& c : clusters_) c->applyHealth(*health_);

  std::vector<proxy::ListenerStats> stats;
  for (const auto& lv : snapshot->listeners) {
    proxy::ListenerStats ls;
    ls.name = lv.config->name;
    for (auto& old : listener_stats_) {
      if (old.name == ls.name) {
        ls.connections = old.connections;
        ls.traffic = old.traffic;
      }
    }
    ls.routes.resize(lv.config->routes.size());  // route counters restart with each config
    stats.push_back(std::move(ls));
  }
  listener_stats_ = std::move(stats);

  for (auto it = listeners_.begin(); it != listeners_.end();) {
    const auto index = snapshot->findListener((*it)->name);
    if (index && !fds.count((*it)->name)) {
      // Kept at the same address: its socket may have switched between plain HTTP and TLS.
      uv_os_fd_t fd;
      if (uv_fileno(reinterpret_cast<uv_handle_t*>((*it)->handle), &fd) == 0)
        net::delayFirstAcks(fd, !snapshot->listeners[*index].config->tls);
      ++it;
      continue;
    }
    net::closeHandle((*it)->handle);
    it = listeners_.erase(it);
  }
  for (auto& [name, fd] : fds) openListener(name, fd);
  snapshot_ = std::move(snapshot);
}

void Worker::applyHealth(std::shared_ptr<const health::HealthView> view) {
  loop_.post([this, view = std::move(view)] {
    if (health_ && view->generation <= health_->generation) return;
    health_ = view;
    for (auto& c : clusters_) c->applyHealth(*health_);
  });
}

std::shared_ptr<upstream::Cluster> Worker::cluster(const proxy::Snapshot& snap, size_t index) {
  if (&snap == snapshot_.get()) return clusters_[index];
  const std::string& name = snap.upstreams[index].config->name;
  for (auto& c : clusters_)
    if (c->config().name == name) return c;
  return nullptr;
}

upstream::Cluster* Worker::findCluster(std::string_view name) {
  for (auto& c : clusters_)
    if (c->config().name == name) return c.get();
  return nullptr;
}

proxy::ListenerStats* Worker::listenerStats(std::string_view name) {
  for (auto& ls : listener_stats_)
    if (ls.name == name) return &ls;
  return nullptr;
}

StatsReport Worker::report() const {
  StatsReport r;
  r.totals = totals_;
  r.totals.connections_open = sessions_.size();
  for (const auto& ls : listener_stats_) {
    ListenerReport lr;
    lr.name = ls.name;
    if (auto i = snapshot_->findListener(ls.name))
      lr.address = snapshot_->listeners[*i].config->listen.text;
    lr.connections = ls.connections;
    lr.traffic = ls.traffic;
    lr.routes = ls.routes;
    r.listeners.push_back(std::move(lr));
  }
  for (const auto& c : clusters_) {
    UpstreamReport ur;
    ur.name = c->config().name;
    for (const auto& e : c->endpoints()) {
      ServerReport sr;
      sr.address = e->ep.name;
      sr.state = std::string(upstream::adminStateName(e->admin));
      sr.weight = e->weight;
      sr.backup = e->ep.backup;
      sr.in_flight = e->in_flight;
      sr.idle_connections = e->idle.size();
      sr.traffic = e->traffic;
      sr.failures = e->failures;
      sr.connect_failures = e->connect_failures;
      sr.latency = e->latency;
      ur.servers.push_back(std::move(sr));
    }
    r.upstreams.push_back(std::move(ur));
  }
  return r;
}

void Worker::onConnection(Listener& listener) {
  assert(loop_.isThisThread());
  auto index = snapshot_->findListener(listener.name);
  if (!index) return;
  const uint64_t limit = snapshot_->config->limits.max_connections;
  const uint64_t open = open_connections_->fetch_add(1, std::memory_order_relaxed) + 1;
  auto session = std::make_unique<proxy::DownstreamSession>(*this, *index);
  proxy::DownstreamSession* raw = session.get();
  sessions_.emplace(raw, std::move(session));
  if (!raw->start(reinterpret_cast<uv_stream_t*>(listener.handle))) return;
  if (open > limit || draining_) {
    ++totals_.connections_rejected;
    log::warn("max_connections (", limit, ") reached: closing a new connection");
    raw->abort();
    return;
  }
  ++totals_.connections_accepted;
  raw->readArrived();
}

void Worker::sessionClosed(proxy::DownstreamSession* session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  open_connections_->fetch_sub(1, std::memory_order_relaxed);
  loop_.deferDelete(std::move(it->second));
  sessions_.erase(it);
  if (draining_) finishIfDone();
}

void Worker::beginShutdown(std::chrono::milliseconds grace) {
  if (draining_) return;
  draining_ = true;
  for (auto& l : listeners_) net::closeHandle(l->handle);
  listeners_.clear();
  std::vector<proxy::DownstreamSession*> all;
  for (auto& [raw, owned] : sessions_) all.push_back(raw);
  for (auto* s : all) s->drain();
  grace_timer_ = std::make_unique<net::Timer>(loop_);
  grace_timer_->start(grace, [this] {
    if (!sessions_.empty())
      log::warn("worker ", id_, ": shutdown grace over; closing ", sessions_.size(),
                " connections");
    std::vector<proxy::DownstreamSession*> left;
    for (auto& [raw, owned] : sessions_) left.push_back(raw);
    for (auto* s : left) s->abort();
    finishIfDone();
  });
  finishIfDone();
}

void Worker::finishIfDone() {
  if (!sessions_.empty() || finished_) return;
  finished_ = true;
  // Let deferred deletions run first; then close what is left so the loop can end.
  loop_.defer([this] {
    grace_timer_.reset();
    for (auto& c : clusters_) c->closeIdle();
    loop_.defer([this] {
      clusters_.clear();
      proxy::DownstreamSession::freePooledExchanges();
      access_log_.flush();
      net::closeHandle(flush_check_);
      loop_.closeInternalHandles();
    });
  });
}

}  // namespace weir::server
