#include "config/config.h"

#include <algorithm>
#include <utility>

namespace weir::config {

std::string ConfigError::str() const {
  std::string out = file;
  if (pos.line > 0) out += ":" + std::to_string(pos.line) + ":" + std::to_string(pos.col);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

void sortInFileOrder(std::vector<ConfigError>& errors) {
  std::stable_sort(errors.begin(), errors.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::pair(a.pos.line, a.pos.col) < std::pair(b.pos.line, b.pos.col);
  });
}

}  // namespace weir::config
