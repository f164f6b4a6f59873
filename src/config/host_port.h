// Parsing of `host:port` config values into HostPort, for listen and upstream server addresses.
// Pure functions, any thread.
#pragma once

#include <string_view>

#include "config/config.h"
#include "core/result.h"

namespace weir::config {

/// A listen address: an IP literal (IPv6 in brackets, "[::]:8080"), "localhost" (becomes
/// 127.0.0.1) or "*" (becomes 0.0.0.0), and a port 0..65535 (0: the OS picks one).
/// The error's detail is a message for the config error.
Result<HostPort> parseListenAddress(std::string_view text);

/// An upstream server address: an IP literal or a host name (kept as written, resolved later)
/// and a port 1..65535.
Result<HostPort> parseServerAddress(std::string_view text);

}  // namespace weir::config
