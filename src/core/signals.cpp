#include "core/signals.h"

#include <pthread.h>

namespace weir::core {

ControlSignalsBlocked::ControlSignalsBlocked() {
  sigset_t control;
  sigemptyset(&control);
  for (int signum : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&control, signum);
  pthread_sigmask(SIG_BLOCK, &control, &saved_);
}

ControlSignalsBlocked::~ControlSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }

}  // namespace weir::core
