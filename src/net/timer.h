// Timer: a one-shot uv_timer_t owned by one object on one loop. Dropping or stopping it means
// the callback never fires afterwards.
#pragma once

#include <chrono>
#include <functional>

#include "net/event_loop.h"

namespace weir::net {

class Timer {
 public:
  explicit Timer(EventLoop& loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  /// (Re)arms the timer; `fn` replaces any earlier callback.
  void start(std::chrono::milliseconds after, std::function<void()> fn);
  /// Re-arms with the callback already set.
  void restart(std::chrono::milliseconds after);
  void stop();
  bool active() const;

 private:
  uv_timer_t* handle_;
  std::function<void()> fn_;
};

}  // namespace weir::net
