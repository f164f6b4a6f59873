#include "proxy/request_key.h"

#include "core/ascii.h"

namespace weir::proxy {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::string_view> findCookie(const http::MessageHead& req, std::string_view name) {
  for (const auto& f : req.headers) {
    if (!iequals(f.name, "cookie")) continue;
    std::string_view rest = f.value;
    while (!rest.empty()) {
      size_t semi = rest.find(';');
      std::string_view pair = trim(rest.substr(0, semi));
      size_t eq = pair.find('=');
      if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name)
        return trim(pair.substr(eq + 1));
      if (semi == std::string_view::npos) break;
      rest.remove_prefix(semi + 1);
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> findQueryParam(std::string_view target, std::string_view name) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (key == name) return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::string_view> requestKey(const config::HashKey& key, const http::MessageHead& req,
                                           std::string_view client_ip) {
  using Kind = config::HashKey::Kind;
  switch (key.kind) {
    case Kind::ClientIp:
      return client_ip;
    case Kind::Uri:
      return std::string_view(req.target);
    case Kind::Header: {
      const std::string* v = req.find(key.name);
      if (!v) return std::nullopt;
      return std::string_view(*v);
    }
    case Kind::Cookie:
      return findCookie(req, key.name);
    case Kind::Query:
      return findQueryParam(req.target, key.name);
  }
  return std::nullopt;
}

}  // namespace weir::proxy
