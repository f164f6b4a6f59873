#include "http/message.h"

namespace weir::http {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

const std::string* MessageHead::find(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return &h.value;
  return nullptr;
}

size_t MessageHead::count(std::string_view name) const {
  size_t n = 0;
  for (const auto& h : headers)
    if (iequals(h.name, name)) ++n;
  return n;
}

bool MessageHead::connectionHas(std::string_view token) const {
  for (const auto& h : headers) {
    if (!iequals(h.name, "connection")) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      size_t comma = v.find(',');
      std::string_view item = v.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (iequals(item, token)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

void MessageHead::clear() {
  method.clear();
  target.clear();
  status = 0;
  reason.clear();
  major = 1;
  minor = 1;
  headers.clear();
  content_length.reset();
  chunked = false;
  keep_alive = true;
  upgrade = false;
}

}  // namespace weir::http
