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
