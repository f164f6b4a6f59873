// SystemdNotifier: tells systemd what the service is doing (sd_notify): READY=1 once listening,
// RELOADING=1 + MONOTONIC_USEC and READY=1 around a reload, STATUS= lines with the generation and
// the request rate, STOPPING=1 on shutdown, WATCHDOG=1 from the control loop when WatchdogSec is
// set. Does nothing outside systemd (no NOTIFY_SOCKET). Control thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "net/timer.h"

namespace weir::server {

class Server;

class SystemdNotifier {
 public:
  explicit SystemdNotifier(Server& server);
  ~SystemdNotifier();

  void ready();
  void reloading();
  void reloaded(bool ok);
  void stopping();
  void close();

 private:
  void send(const std::string& state);
  void tick();

  Server& server_;
  bool enabled_;
  uint64_t watchdog_usec_ = 0;
  std::unique_ptr<net::Timer> timer_;
  uint64_t last_requests_ = 0;
  uint64_t last_tick_ms_ = 0;
  uint64_t ticks_ = 0;
};

}  // namespace weir::server
