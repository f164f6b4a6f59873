// EventLoop: one uv_loop_t plus what every thread's loop needs: a thread-safe Mailbox for work
// posted from other threads, deferred deletion at a safe point, and one shared read buffer.
// Owned by the thread that runs it; only post() may be called from other threads.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace weir::net {

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  uv_loop_t* raw() { return &loop_; }

  /// Runs until no handle is left active; then closes the loop. Returns uv_loop_close()'s result.
  int run();
  bool isThisThread() const { return std::this_thread::get_id() == owner_; }
  /// The calling thread owns the loop from now on (call first thing on a worker thread).
  void adoptThread() { owner_ = std::this_thread::get_id(); }

  /// Thread-safe: `fn` runs on this loop's thread. Coalesced wake-ups drain the whole queue.
  void post(std::function<void()> fn);
  /// Closes the mailbox and deferred-delete handles so that run() can return.
  void closeInternalHandles();

  /// Runs `fn` at the next safe point (an idle callback), never inside the caller's callback.
  void defer(std::function<void()> fn);
  template <typename T>
  void deferDelete(std::unique_ptr<T> object) {
    defer([p = object.release()] { delete p; });
  }

  /// One read buffer shared by every stream of this loop: reads are processed synchronously,
  /// so no connection holds a buffer while idle.
  static constexpr size_t kReadBufferBytes = 64 * 1024;
  char* readBuffer() { return read_buffer_.get(); }

  /// Milliseconds from the loop's cached clock.
  uint64_t now() const { return uv_now(&loop_); }

 private:
  void drainMailbox();
  void reap();

  uv_loop_t loop_;
  std::thread::id owner_;
  bool closed_ = false;
  uv_async_t* async_ = nullptr;
  uv_idle_t* idle_ = nullptr;
  std::mutex mutex_;
  std::vector<std::function<void()>> inbox_;
  std::vector<std::function<void()>> deferred_;
  std::unique_ptr<char[]> read_buffer_;
};

}  // namespace weir::net
