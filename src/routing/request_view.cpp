#include "routing/request_view.h"

namespace weir::routing {
const std::string* HeaderList::find(std::string_view name) const {
  for (const auto& f : fields_)
    if (iequals(f.name, name)) return &f.value;
  return nullptr;
}

std::string_view hostOf(std::string_view header) {
  std::string_view host = header;
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close != std::string_view::npos) return host.substr(1, close - 1);
    return host;  // malformed; matches nothing sensible
  }
  size_t colon = host.find(':');
  if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos)
    host = host.substr(0, colon);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return host;
}

}  // namespace weir::routing
