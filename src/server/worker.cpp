#include "server/worker.h"

#include <unistd.h>

#include <cassert>
#include <random>

#include "core/log.h"
#include "net/uv_handle.h"

namespace weir::server {

Worker::Worker(int id, std::shared_ptr<const proxy::Snapshot> snapshot,
               std::vector<int> listen_fds, const proxy::AccessLogFile* access_log,
               std::atomic<uint64_t>* open_connections)
    : id_(id),
      snapshot_(std::move(snapshot)),
      listen_fds_(std::move(listen_fds)),
      access_log_(access_log),
      request_ids_(std::random_device{}() ^ (static_cast<uint64_t>(id) << 32)),
      open_connections_(open_connections) {}

Worker::~Worker() { join(); }

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::shutdown(std::chrono::milliseconds grace) {
  loop_.post([this, grace] { beginShutdown(grace); });
}

void Worker::run() {
  // Everything the loop touches is created on this thread.
  std::mt19937_64 seeds(std::random_device{}() + static_cast<uint64_t>(id_));
  for (const auto& u : snapshot_->upstreams) {
    clusters_.push_back(
        std::make_unique<upstream::Cluster>(loop_, *u.config, u.endpoints, seeds() % 1024));
  }
  for (size_t i = 0; i < listen_fds_.size(); ++i) {
    auto l = std::make_unique<Listener>(Listener{this, i, new uv_tcp_t});
    uv_tcp_init(loop_.raw(), l->handle);
    l->handle->data = l.get();
    int rc = uv_tcp_open(l->handle, listen_fds_[i]);
    if (rc == 0) {
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(l->handle), 511,
                     [](uv_stream_t* server, int status) {
                       auto* listener = static_cast<Listener*>(server->data);
                       if (listener && status == 0) listener->worker->onConnection(*listener);
                     });
    }
    if (rc != 0) log::error("worker ", id_, ": cannot listen: ", uv_strerror(rc));
    listeners_.push_back(std::move(l));
  }
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

void Worker::onConnection(Listener& listener) {
  assert(loop_.isThisThread());
  const uint64_t limit = snapshot_->config->limits.max_connections;
  const uint64_t open = open_connections_->fetch_add(1, std::memory_order_relaxed) + 1;
  auto session = std::make_unique<proxy::DownstreamSession>(*this, listener.index);
  proxy::DownstreamSession* raw = session.get();
  sessions_.emplace(raw, std::move(session));
  if (!raw->start(reinterpret_cast<uv_stream_t*>(listener.handle))) return;
  if (open > limit || draining_) {
    stats_.add(stats_.connections_rejected);
    log::warn("max_connections (", limit, ") reached: closing a new connection");
    raw->abort();
    return;
  }
  stats_.add(stats_.connections_accepted);
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
      access_log_.flush();
      net::closeHandle(flush_check_);
      loop_.closeInternalHandles();
    });
  });
}

}  // namespace weir::server
