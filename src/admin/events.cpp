#include "admin/events.h"

#include <algorithm>

namespace weir::admin {

std::string sseFrame(std::string_view data, std::optional<uint64_t> id) {
  std::string out;
  out.reserve(data.size() + 32);
  if (id) {
    out += "id: ";
    out += std::to_string(*id);
    out += '\n';
  }
  size_t start = 0;
  while (true) {
    const size_t end = data.find_first_of("\r\n", start);
    out += "data: ";
    out += data.substr(start, end == std::string_view::npos ? end : end - start);
    out += '\n';
    if (end == std::string_view::npos) break;
    start = end + 1;
    if (data[end] == '\r' && start < data.size() && data[start] == '\n') ++start;  // CRLF
  }
  out += '\n';
  return out;
}

std::string sseRetry(uint64_t milliseconds) {
  return "retry: " + std::to_string(milliseconds) + "\n\n";
}

size_t EventStreams::size() {
  std::erase_if(streams_, [](const StreamWriter& w) { return !w.open(); });
  return streams_.size();
}

size_t EventStreams::broadcast(std::string_view frame) {
  // write() may close a session (slow reader): that only defers its deletion, never touches
  // this vector.
  std::erase_if(streams_, [&](const StreamWriter& w) { return !w.write(frame); });
  return streams_.size();
}

void EventStreams::closeAll() {
  auto streams = std::move(streams_);
  streams_.clear();
  for (const auto& w : streams) w.close();
}

}  // namespace weir::admin
