// Settings shared by the server and client contexts: protocol versions, the default cipher list,
// ALPN wire format. Pure functions; internal to src/tls.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace weir::tls {

/// TLS 1.2 suites used when a config says "default": forward secrecy and AEAD only. TLS 1.3 keeps
/// OpenSSL's default suites (all AEAD).
inline constexpr const char* kDefaultCiphers12 = "ECDHE+AESGCM:ECDHE+CHACHA20";

/// "1.2" -> TLS1_2_VERSION, "1.3" -> TLS1_3_VERSION; anything else (1.1 and below included): none.
std::optional<int> parseTlsVersion(const std::string& text);

/// ALPN protocol names in wire format (length-prefixed). Error: an empty or over-255-byte name.
Result<std::string> alpnWire(const std::vector<std::string>& protocols);

/// Lower case, without a trailing dot: the form names are indexed and compared in.
std::string normalizeHostName(std::string name);

}  // namespace weir::tls
