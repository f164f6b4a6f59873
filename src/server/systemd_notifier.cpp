#include "server/systemd_notifier.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdlib>

#include "core/log.h"
#include "server/server.h"

namespace weir::server {
namespace {

constexpr uint64_t kStatusEveryMs = 5000;

uint64_t monotonicUsec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

}  // namespace

SystemdNotifier::SystemdNotifier(Server& server)
    : server_(server), enabled_(std::getenv("NOTIFY_SOCKET") != nullptr) {
  if (!enabled_) return;
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_usec_ = usec;
  timer_ = std::make_unique<net::Timer>(server_.loop());
}

SystemdNotifier::~SystemdNotifier() { close(); }

void SystemdNotifier::send(const std::string& state) {
  if (!enabled_) return;
  int rc = sd_notify(0, state.c_str());
  if (rc < 0) log::warn("sd_notify failed: ", rc);
}

void SystemdNotifier::ready() {
  send("READY=1\nSTATUS=serving generation " + std::to_string(server_.generation()));
  if (!timer_) return;
  last_tick_ms_ = server_.loop().now();
  uint64_t every = kStatusEveryMs;
  if (watchdog_usec_) every = std::min<uint64_t>(every, watchdog_usec_ / 2000);
  timer_->start(std::chrono::milliseconds(std::max<uint64_t>(every, 10)), [this] { tick(); });
}

void SystemdNotifier::reloading() {
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonicUsec()) +
       "\nSTATUS=reloading configuration");
}

void SystemdNotifier::reloaded(bool ok) {
  std::string status =
      ok ? "serving generation " + std::to_string(server_.generation())
         : "reload failed; serving generation " + std::to_string(server_.generation());
  send("READY=1\nSTATUS=" + status);
}

void SystemdNotifier::stopping() {
  send("STOPPING=1\nSTATUS=draining connections");
  if (timer_) timer_->stop();
}

void SystemdNotifier::close() { timer_.reset(); }

void SystemdNotifier::tick() {
  if (watchdog_usec_) send("WATCHDOG=1");
  const uint64_t now = server_.loop().now();
  const uint64_t every =
      watchdog_usec_ ? std::min<uint64_t>(kStatusEveryMs, watchdog_usec_ / 2000) : kStatusEveryMs;
  if (++ticks_ * every % kStatusEveryMs < every) {
    server_.collectStats([this, now](StatsReport r) {
      const uint64_t requests = r.totals.traffic.requests;
      const double seconds = static_cast<double>(now - last_tick_ms_) / 1000.0;
      const double rate =
          seconds > 0 ? static_cast<double>(requests - last_requests_) / seconds : 0;
      last_requests_ = requests;
      last_tick_ms_ = now;
      char line[160];
      std::snprintf(line, sizeof line, "STATUS=serving generation %llu, %.1f req/s, %llu open",
                    static_cast<unsigned long long>(server_.generation()), rate,
                    static_cast<unsigned long long>(r.totals.connections_open));
      send(line);
    });
  }
  if (timer_) timer_->restart(std::chrono::milliseconds(std::max<uint64_t>(every, 10)));
}

}  // namespace weir::server
