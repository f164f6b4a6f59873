#include "tls/tls_settings.h"

#include <openssl/ssl.h>

namespace weir::tls {

std::optional<int> parseTlsVersion(const std::string& text) {
  if (text == "1.2") return TLS1_2_VERSION;
  if (text == "1.3") return TLS1_3_VERSION;
  return std::nullopt;
}

Result<std::string> alpnWire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& p : protocols) {
    if (p.empty() || p.size() > 255) {
      return Error{ErrorCode::InvalidArgument, Side::Internal, false,
                   "alpn: protocol names must be 1..255 bytes, got '" + p + "'"};
    }
    wire += static_cast<char>(p.size());
    wire += p;
  }
  return wire;
}

std::string normalizeHostName(std::string name) {
  while (!name.empty() && name.back() == '.') name.pop_back();
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return name;
}

}  // namespace weir::tls
