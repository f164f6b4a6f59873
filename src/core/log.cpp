#include "core/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <string>

namespace weir::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::Info)};

bool journal() {
  static const bool on = std::getenv("JOURNAL_STREAM") != nullptr;
  return on;
}

const char* name(Level level) {
  switch (level) {
    case Level::Error:
      return "error";
    case Level::Warn:
      return "warn";
    case Level::Notice:
      return "notice";
    case Level::Info:
      return "info";
    case Level::Debug:
      return "debug";
  }
  return "info";
}
}  // namespace

void setLevel(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

bool enabled(Level level) {
  return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed);
}

void write(Level level, std::string_view message) {
  std::string out;
  out.reserve(message.size() + 48);
  if (journal()) {
    out += '<';
    out += static_cast<char>('0' + static_cast<int>(level));
    out += '>';
  } else {
    char stamp[32];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    std::strftime(stamp, sizeof stamp, "%Y/%m/%d %H:%M:%S ", &tm);
    out += stamp;
  }
  out += '[';
  out += name(level);
  out += "] ";
  out += message;
  out += '\n';
  ssize_t ignored = ::write(STDERR_FILENO, out.data(), out.size());
  (void)ignored;
}

}  // namespace weir::log
