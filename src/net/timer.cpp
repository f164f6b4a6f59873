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
  uv_timer_start(
      handle_,
      [](uv_timer_t* h) {
        if (auto* self = static_cast<Timer*>(h->data)) self->fn_();
      },
      static_cast<uint64_t>(after.count()), 0);
}

void Timer::stop() {
  if (handle_) uv_timer_stop(handle_);
}

bool Timer::active() const {
  return handle_ && uv_is_active(reinterpret_cast<const uv_handle_t*>(handle_));
}

}  // namespace weir::net
