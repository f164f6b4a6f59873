#include "http/http_date.h"

#include <ctime>

namespace weir::http {

std::string_view httpDate() {
  thread_local std::time_t cached_at = 0;
  thread_local char text[40];
  thread_local size_t length = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_at) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    length = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_at = now;
  }
  return {text, length};
}

}  // namespace weir::http
