#include "http/message.h"

#include <algorithm>

namespace weir::http {

bool sameFieldName(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = asciiLower(a[i]), y = asciiLower(b[i]);
    if (x == '_') x = '-';
    if (y == '_') y = '-';
    if (x != y) return false;
  }
  return true;
}

HeaderId headerId(std::string_view name) {
  // `lower` holds only lowercase letters and '-': OR-ing 0x20 into a byte of `name` matches a
  // letter in either case, and '-' only itself (the other byte it would match, CR, is no tchar).
  // A '_' where `lower` has '-' makes the name Underscored.
  auto is = [&](std::string_view lower, HeaderId id) {
    for (size_t i = 0; i < lower.size(); ++i) {
      if ((name[i] | 0x20) == lower[i]) continue;
      if (name[i] != '_' || lower[i] != '-') return HeaderId::Other;
      id = HeaderId::Underscored;
    }
    return id;
  };
  switch (name.size()) {
    case 2:
      return is("te", HeaderId::Te);
    case 3:
      return is("via", HeaderId::Via);
    case 4:
      return is("host", HeaderId::Host);
    case 7: {
      const HeaderId id = is("upgrade", HeaderId::Upgrade);
      return id != HeaderId::Other ? id : is("trailer", HeaderId::Trailer);
    }
    case 10: {
      const HeaderId id = is("connection", HeaderId::Connection);
      return id != HeaderId::Other ? id : is("keep-alive", HeaderId::KeepAlive);
    }
    case 12: {
      const HeaderId id = is("x-request-id", HeaderId::XRequestId);
      return id != HeaderId::Other ? id : is("max-forwards", HeaderId::MaxForwards);
    }
    case 14:
      return is("content-length", HeaderId::ContentLength);
    case 15:
      return is("x-forwarded-for", HeaderId::XForwardedFor);
    case 16: {
      const HeaderId id = is("proxy-connection", HeaderId::ProxyConnection);
      return id != HeaderId::Other ? id : is("x-forwarded-host", HeaderId::XForwardedHost);
    }
    case 17: {
      const HeaderId id = is("transfer-encoding", HeaderId::TransferEncoding);
      return id != HeaderId::Other ? id : is("x-forwarded-proto", HeaderId::XForwardedProto);
    }
    case 18:
      return is("proxy-authenticate", HeaderId::ProxyAuthenticate);
    default:
      return HeaderId::Other;
  }
}

std::optional<uint64_t> maxForwards(const MessageHead& head) {
  if (head.method != "OPTIONS" && head.method != "TRACE") return std::nullopt;
  const std::string* value = head.find(HeaderId::MaxForwards);
  if (!value || value->empty() || head.count(HeaderId::MaxForwards) > 1) return std::nullopt;
  constexpr uint64_t kMax = 0xffffffffu;
  uint64_t n = 0;
  for (char c : *value) {
    if (c < '0' || c > '9') return std::nullopt;
    n = std::min(kMax, n * 10 + static_cast<uint64_t>(c - '0'));
  }
  return n;
}

TargetParts splitTarget(std::string_view target) {
  const size_t start = istartsWith(target, "http://") ? 7 : istartsWith(target, "https://") ? 8 : 0;
  if (start == 0) return {false, {}, target};
  const size_t end = target.find_first_of("/?", start);
  if (end == std::string_view::npos) return {true, target.substr(start), "/"};
  return {true, target.substr(start, end - start), target.substr(end)};
}

namespace {

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = asciiLower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool unreserved(char c) {  // RFC 3986 2.3
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Whether normalizing can change `path`: only a '%', "//" or "/." can.
bool mayChange(std::string_view path) {
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%') return true;
    if (path[i] == '/' && i + 1 < path.size() && (path[i + 1] == '/' || path[i + 1] == '.'))
      return true;
  }
  return false;
}

}  // namespace

PathCheck normalizeTargetPath(std::string& target) {
  size_t start = 0;  // of the path: origin-form targets (nearly all) start with it
  if (target.empty() || target.front() != '/') {
    const TargetParts parts = splitTarget(target);
    if (parts.absolute)
      start = static_cast<size_t>(parts.authority.data() - target.data()) + parts.authority.size();
  }
  // Nothing after the authority ("http://a": the path is "/"), or not a path ("*").
  if (start == target.size() || target[start] != '/') return PathCheck::Unchanged;
  const size_t end = std::min(target.find('?', start), target.size());
  const std::string_view path(target.data() + start, end - start);
  if (!mayChange(path)) return PathCheck::Unchanged;

  // Unreserved characters decoded; any other escape kept as it came.
  std::string decoded;
  decoded.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') {
      decoded += path[i];
      continue;
    }
    const int hi = i + 2 < path.size() ? hexDigit(path[i + 1]) : -1;
    const int lo = hi >= 0 ? hexDigit(path[i + 2]) : -1;
    if (lo < 0) return PathCheck::BadPercent;
    const char c = static_cast<char>(hi * 16 + lo);
    if (unreserved(c)) {
      decoded += c;
    } else {
      decoded.append(path.substr(i, 3));
    }
    i += 2;
  }

  // Segments after the leading '/': empty ones (from "//") and "." dropped, ".." drops the one
  // before. A path that ends in "/", "/." or "/.." names a directory and keeps its final '/'.
  std::vector<std::string_view> kept;
  bool directory = false;
  std::string_view rest = std::string_view(decoded).substr(1);
  while (true) {
    const size_t slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    directory = segment.empty() || segment == "." || segment == "..";
    if (segment == "..") {
      if (kept.empty()) return PathCheck::AboveRoot;
      kept.pop_back();
    } else if (!directory) {
      kept.push_back(segment);
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  std::string normal = "/";
  for (size_t i = 0; i < kept.size(); ++i) {
    if (i > 0) normal += '/';
    normal.append(kept[i]);
  }
  if (directory && !kept.empty()) normal += '/';
  if (normal == path) return PathCheck::Unchanged;
  target.replace(start, path.size(), normal);
  return PathCheck::Normalized;
}

const std::string* MessageHead::find(HeaderId id) const {
  for (const auto& h : headers)
    if (h.id == id) return &h.value;
  return nullptr;
}

size_t MessageHead::count(HeaderId id) const {
  size_t n = 0;
  for (const auto& h : headers)
    if (h.id == id) ++n;
  return n;
}

const std::string* MessageHead::find(std::string_view name) const {
  if (const HeaderId id = headerId(name); isNamed(id)) return find(id);
  for (const auto& h : headers)
    if (iequals(h.name, name)) return &h.value;
  return nullptr;
}

size_t MessageHead::count(std::string_view name) const {
  if (const HeaderId id = headerId(name); isNamed(id)) return count(id);
  size_t n = 0;
  for (const auto& h : headers)
    if (iequals(h.name, name)) ++n;
  return n;
}

bool MessageHead::connectionHas(std::string_view token) const {
  for (const auto& h : headers) {
    if (h.id != HeaderId::Connection) continue;
    if (anyListItem(h.value, [&](std::string_view item) { return iequals(item, token); }))
      return true;
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
