// MessageHead: a parsed HTTP/1.x request or response head (start line and header fields), as
// produced by HttpParser. Plain value; lives with the stream that parsed it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ascii.h"

namespace weir::http {

/// The header fields weir itself looks at, told apart once when a field is made so that the
/// proxy's many lookups compare a byte instead of a case-insensitive name.
enum class HeaderId : uint8_t {
  Other,
  Host,
  ContentLength,
  TransferEncoding,
  Connection,
  KeepAlive,
  ProxyConnection,
  Te,
  Trailer,
  Upgrade,
  ProxyAuthenticate,
  Via,
  XForwardedFor,
  XForwardedProto,
  XForwardedHost,
  XRequestId,
  MaxForwards,
  /// One of the names above with `_` for some `-` (X_Forwarded_For): a backend that reads
  /// fields through CGI-style names (HTTP_X_FORWARDED_FOR) takes it for the real one.
  Underscored,
};

/// The id of a field name (any case); Other for the rest.
HeaderId headerId(std::string_view name);
/// Whether `id` names exactly one field name (neither Other nor Underscored).
inline bool isNamed(HeaderId id) { return id != HeaderId::Other && id != HeaderId::Underscored; }

struct HeaderField {
  HeaderField() = default;
  HeaderField(std::string n, std::string v)
      : name(std::move(n)), value(std::move(v)), id(headerId(name)) {}

  std::string name;
  std::string value;
  HeaderId id = HeaderId::Other;  // of `name`; set by the constructor
};

/// Whether two field names are the same to a backend that reads them through CGI-style names:
/// case-insensitively, and with `_` and `-` alike (X_Api_Key and x-api-key).
bool sameFieldName(std::string_view a, std::string_view b);

/// Calls `fn(item)` for each item of a comma-separated field value (RFC 9110 5.6.1), optional
/// whitespace trimmed, empty items included; stops at the first item for which `fn` returns
/// true. Returns whether one did.
template <typename F>
bool anyListItem(std::string_view value, F&& fn) {
  while (true) {
    const size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (fn(item)) return true;
    if (comma == std::string_view::npos) return false;
    value.remove_prefix(comma + 1);
  }
}

/// A request target (RFC 9112 3.2) as routing reads it. absolute-form ("http://a.example/x?q"):
/// the authority ("a.example") and the rest in origin-form ("/x?q", or "/" when nothing follows
/// the authority). Any other form: no authority, and the target itself.
struct TargetParts {
  bool absolute = false;
  std::string_view authority;
  std::string_view origin;
};
TargetParts splitTarget(std::string_view target);

/// What normalizeTargetPath() found.
enum class PathCheck : uint8_t { Unchanged, Normalized, BadPercent, AboveRoot };

/// Puts the path of an origin-form or absolute-form `target` in the form routes are matched on
/// and the upstream receives (RFC 3986 6.2.2, as nginx does before matching its locations):
/// percent-encoded unreserved characters decoded ("%61" -> "a"; "%2F" stays), runs of '/'
/// merged, "." and ".." segments removed. The query is left as it is. BadPercent: a '%' without
/// two hex digits; AboveRoot: a ".." with no segment left to remove. Either leaves `target` as
/// it was.
PathCheck normalizeTargetPath(std::string& target);

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
  const std::string* find(HeaderId id) const;
  size_t count(std::string_view name) const;
  size_t count(HeaderId id) const;
  /// True when the Connection header lists `token` (case-insensitive).
  bool connectionHas(std::string_view token) const;
  bool isHttp10() const { return major == 1 && minor == 0; }
  void clear();
};

/// The Max-Forwards of an OPTIONS or TRACE request (RFC 9110 7.6.2), at most 2^32 - 1; nullopt
/// for other methods, or when the field is absent, repeated or not 1*DIGIT (then weir leaves it
/// alone, as it leaves any field it cannot use).
std::optional<uint64_t> maxForwards(const MessageHead& head);

}  // namespace weir::http
