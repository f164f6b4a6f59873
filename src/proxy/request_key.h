// The request values that hashing policies and sticky sessions read: client address, URI, a
// header, a cookie or a query parameter. Pure; any thread.
#pragma once

#include <optional>
#include <string_view>

#include "config/config.h"
#include "http/message.h"

namespace weir::proxy {

/// The value `key` names in the request, or nullopt when the request does not carry it.
std::optional<std::string_view> requestKey(const config::HashKey& key, const http::MessageHead& req,
                                           std::string_view client_ip);
/// The value of cookie `name` in the request's Cookie headers.
std::optional<std::string_view> findCookie(const http::MessageHead& req, std::string_view name);
/// The value of query parameter `name` (first occurrence, not decoded).
std::optional<std::string_view> findQueryParam(std::string_view target, std::string_view name);

}  // namespace weir::proxy
