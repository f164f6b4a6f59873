#include "net/timer.h"

#include "net/uv_handle.h"

namespace weir::net {

Timer::Timer(EventLoop& loop) : handle_(new uv_timer_t) {
  uv_timer_init(loop.raw(), handle_);
  handle_->data = this;
}

Timer::~Timer() { closeHandle(handle_); }

void Timer::start(std::chrono::milliseconds after, std::function<void()> fn) {
  fn_ = std::move(fn);
  restart(after);
}

void Timer::restart(std::chrono::milliseconds after) {
  if (!handle_) return;
  const auto ms = static_cast<uint64_t>(after.count() > 0 ? after.count() : 0);
  due_ = uv_now(handle_->loop) + ms;
  on_ = true;
  uv_ref(reinterpret_cast<uv_handle_t*>(handle_));
  if (armed_ && armed_due_ <= due_) return;  // fires early and re-arms for the rest
  uv_timer_start(handle_, onFire, ms, 0);
  armed_ = true;
  armed_due_ = due_;
}

void Timer::onFire(uv_timer_t* handle) {
  auto* self = static_cast<Timer*>(handle->data);
  if (!self) return;
  self->armed_ = false;
  if (!self->on_) return;
  const uint64_t now = uv_now(handle->loop);
  if (now < self->due_) {
    uv_timer_start(handle, onFire, self->due_ - now, 0);
    self->armed_ = true;
    self->armed_due_ = self->due_;
    return;
  }
  self->on_ = false;
  if (self->fn_) self->fn_();
}

void Timer::stop() {
  on_ = false;
  // Left running if armed, but no longer keeps the loop alive.
  if (handle_) uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
}

void Timer::clear() {
  stop();
  fn_ = nullptr;
}

bool Timer::active() const { return on_; }

}  // namespace weir::net
