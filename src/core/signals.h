// Control signals (SIGTERM, SIGINT, SIGHUP, SIGUSR1) reach only the main thread, whose loop
// handles them: every other thread is started with them blocked. The main thread can then
// block them too for a moment (ControlSignalsBlocked), and no thread takes one in that moment.
#pragma once

#include <csignal>
#include <thread>
#include <utility>

namespace weir::core {

/// Blocks the control signals in the calling thread for its lifetime; they stay pending.
class ControlSignalsBlocked {
 public:
  ControlSignalsBlocked();
  ~ControlSignalsBlocked();
  ControlSignalsBlocked(const ControlSignalsBlocked&) = delete;
  ControlSignalsBlocked& operator=(const ControlSignalsBlocked&) = delete;

 private:
  sigset_t saved_;
};

/// A std::thread running `fn` with the control signals blocked (the new thread inherits the
/// mask it is started under).
template <typename F>
std::thread threadWithoutControlSignals(F&& fn) {
  ControlSignalsBlocked blocked;
  return std::thread(std::forward<F>(fn));
}

}  // namespace weir::core
