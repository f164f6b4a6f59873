// Timer: a one-shot uv_timer_t owned by one object on one loop. Dropping or stopping it means
// the callback never fires afterwards.
//
// Re-arming is lazy, because sessions stop and re-arm their timeouts several times per request:
// moving the deadline later only records it, and stop() only unreferences the handle. If the uv
// timer then fires early it re-arms for what is left, or does nothing when stopped.
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
  /// Stops and forgets the callback (an object handing the timer to a new owner).
  void clear();
  bool active() const;

 private:
  static void onFire(uv_timer_t* handle);

  uv_timer_t* handle_;
  std::function<void()> fn_;
  uint64_t due_ = 0;        // loop time (ms) the callback is due, while on_
  uint64_t armed_due_ = 0;  // loop time the uv timer fires, while armed_
  bool on_ = false;         // started and neither stopped nor fired
  bool armed_ = false;      // the uv timer is running
};

}  // namespace weir::net
