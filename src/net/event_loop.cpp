#include "net/event_loop.h"

#include <cassert>

#include "net/uv_handle.h"

namespace weir::net {

EventLoop::EventLoop()
    : owner_(std::this_thread::get_id()), read_buffer_(new char[kReadBufferBytes]) {
  uv_loop_init(&loop_);
  async_ = new uv_async_t;
  uv_async_init(&loop_, async_, [](uv_async_t* h) {
    if (auto* self = static_cast<EventLoop*>(h->data)) self->drainMailbox();
  });
  async_->data = this;
  idle_ = new uv_idle_t;
  uv_idle_init(&loop_, idle_);
  idle_->data = this;
}

EventLoop::~EventLoop() {
  if (closed_) return;
  closeInternalHandles();
  for (int i = 0; i < 100 && uv_loop_close(&loop_) == UV_EBUSY; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
}

int EventLoop::run() {
  owner_ = std::this_thread::get_id();
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Run the last close callbacks; then the loop must have nothing left.
  uv_run(&loop_, UV_RUN_NOWAIT);
  int rc = uv_loop_close(&loop_);
  closed_ = rc == 0;
  return rc;
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    inbox_.push_back(std::move(fn));
  }
  if (async_) uv_async_send(async_);
}

void EventLoop::drainMailbox() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    batch.swap(inbox_);
  }
  for (auto& fn : batch) fn();
}

void EventLoop::closeInternalHandles() {
  if (async_) {
    drainMailbox();
    closeHandle(async_);
  }
  if (idle_) {
    reap();
    closeHandle(idle_);
  }
}

void EventLoop::defer(std::function<void()> fn) {
  deferred_.push_back(std::move(fn));
  if (idle_ && !uv_is_active(reinterpret_cast<uv_handle_t*>(idle_))) {
    uv_idle_start(idle_, [](uv_idle_t* h) {
      if (auto* self = static_cast<EventLoop*>(h->data)) self->reap();
    });
  }
}

void EventLoop::reap() {
  while (!deferred_.empty()) {
    std::vector<std::function<void()>> batch;
    batch.swap(deferred_);
    for (auto& fn : batch) fn();
  }
  if (idle_) uv_idle_stop(idle_);
}

}  // namespace weir::net
