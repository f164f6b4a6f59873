// MessageHead: a parsed HTTP/1.x request or response head (start line and header fields), as
// produced by HttpParser. Plain value; lives with the stream that parsed it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weir::http {

struct HeaderField {
  std::string name;
  std::string value;
};

/// ASCII case-insensitive equality (header names, tokens).
bool iequals(std::string_view a, std::string_view b);

struct MessageHead {
  // Request line.
  std::string method;
  std::string target;
  // Status line.
  int status = 0;
  std::string reason;
  uint8_t major = 1;
  uint8_t minor = 1;

  std::vector<HeaderField> headers;
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = true;  // what the message itself asks for (version + Connection header)
  bool upgrade = false;    // request asks for / response grants a protocol switch

  /// First value of `name`, or nullptr.
  const std::string* find(std::string_view name) const;
  size_t count(std::string_view name) const;
  /// True when the Connection header lists `token` (case-insensitive).
  bool connectionHas(std::string_view token) const;
  bool isHttp10() const { return major == 1 && minor == 0; }
  void clear();
};

}  // namespace weir::http
