#include "config/host_port.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>

#include "core/ascii.h"

namespace weir::config {
namespace {

Error invalid(std::string detail) {
  return Error{ErrorCode::InvalidArgument, Side::Internal, false, std::move(detail)};
}

bool isIpv4(const std::string& host) {
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1;
}

bool isIpv6(const std::string& host) {
  in6_addr a{};
  return inet_pton(AF_INET6, host.c_str(), &a) == 1;
}

// RFC 1123 host name, leniently: labels of letters, digits, '-' and '_' joined by dots.
bool isHostName(std::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.back() == '.') return false;
  if (host.find("..") != std::string_view::npos) return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

struct Split {
  std::string host;  // brackets removed
  bool bracketed = false;
  std::string_view port;
};

Result<Split> split(std::string_view text) {
  Split out;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return invalid("must be [IPv6]:port, e.g. [::1]:8080");
    out.host = std::string(text.substr(1, close - 1));
    out.bracketed = true;
    out.port = text.substr(close + 2);
    if (!isIpv6(out.host)) return invalid("'" + out.host + "' is not an IPv6 address");
    return out;
  }
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return invalid("must be host:port, e.g. 127.0.0.1:8080");
  out.host = std::string(text.substr(0, colon));
  out.port = text.substr(colon + 1);
  if (out.host.find(':') != std::string::npos)
    return invalid("IPv6 addresses need brackets, e.g. [::1]:8080");
  if (out.host.empty()) return invalid("host is missing, e.g. 0.0.0.0:8080");
  return out;
}

Result<uint16_t> port(std::string_view text, unsigned min) {
  unsigned n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  bool digits = !text.empty() && std::isdigit(static_cast<unsigned char>(text.front()));
  if (!digits || ec != std::errc() || end != text.data() + text.size() || n < min || n > 65535)
    return invalid("port must be " + std::to_string(min) + "..65535, got '" + std::string(text) +
                   "'");
  return static_cast<uint16_t>(n);
}

}  // namespace

Result<HostPort> parseListenAddress(std::string_view text) {
  auto parts = split(text);
  if (!parts) return parts.error();
  auto p = port(parts->port, 0);
  if (!p) return p.error();
  HostPort out{parts->host, *p, std::string(text)};
  if (parts->bracketed) return out;
  if (out.host == "*") {
    out.host = "0.0.0.0";
  } else if (asciiLowered(out.host) == "localhost") {
    out.host = "127.0.0.1";
  } else if (!isIpv4(out.host)) {
    return invalid("host must be an IP address, localhost or *, got '" + out.host + "'");
  }
  return out;
}

Result<HostPort> parseServerAddress(std::string_view text) {
  auto parts = split(text);
  if (!parts) return parts.error();
  auto p = port(parts->port, 1);
  if (!p) return p.error();
  if (!parts->bracketed && !isIpv4(parts->host) && !isHostName(parts->host))
    return invalid("'" + parts->host + "' is not an IP address or host name");
  return HostPort{parts->host, *p, std::string(text)};
}

}  // namespace weir::config
