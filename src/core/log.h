// Error/event log to stderr, with levels; journald-friendly (`<N>` priority prefixes when
// stderr is the journal). Thread-safe: one write(2) per line.
#pragma once

#include <string_view>

namespace weir::log {

enum class Level : int { Error = 3, Warn = 4, Notice = 5, Info = 6, Debug = 7 };

void setLevel(Level level);
bool enabled(Level level);
void write(Level level, std::string_view message);

template <typename... Args>
void line(Level level, const Args&... parts);

}  // namespace weir::log

#include <sstream>

namespace weir::log {
template <typename... Args>
void line(Level level, const Args&... parts) {
  if (!enabled(level)) return;
  std::ostringstream out;
  (out << ... << parts);
  write(level, out.str());
}
template <typename... Args>
void error(const Args&... a) {
  line(Level::Error, a...);
}
template <typename... Args>
void warn(const Args&... a) {
  line(Level::Warn, a...);
}
template <typename... Args>
void notice(const Args&... a) {
  line(Level::Notice, a...);
}
template <typename... Args>
void info(const Args&... a) {
  line(Level::Info, a...);
}
template <typename... Args>
void debug(const Args&... a) {
  line(Level::Debug, a...);
}
}  // namespace weir::log
