// Header rewriting between the two sides of the proxy (RFC 9110 7.6): hop-by-hop fields are
// dropped, X-Forwarded-*, Via and X-Request-Id are set, and framing is written anew for the
// side it goes to. Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

namespace weir::http {

/// Header changes a route asks for: fields removed, then set (replacing), then added.
struct HeaderEdits {
  std::vector<HeaderField> set;
  std::vector<HeaderField> add;
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
  /// True when the field `name` of the original message is dropped (removed or replaced),
  /// whatever its spelling of '-' (sameFieldName: X_Api_Key goes with X-Api-Key).
  bool drops(std::string_view name) const;
};

struct ForwardInfo {
  std::string_view client_ip;
  std::string_view proto = "http";
  std::string_view request_id;  // sent as X-Request-Id when the request has none
  std::string_view target;      // origin-form target to send (absolute-form already reduced)
  std::string_view host;        // Host to send instead of the request's (absolute-form, rewrite)
  std::string_view forwarded_host;  // X-Forwarded-Host when not the request's Host
  const HeaderEdits* edits = nullptr;
};

/// How a body is delimited on the wire we write.
enum class Framing { None, Length, Chunked, Close };

/// Appends the request head as sent upstream: HTTP/1.1, hop-by-hop fields removed,
/// X-Forwarded-For appended, X-Forwarded-Proto/Host set, Via added, X-Request-Id ensured,
/// and framing per `framing` (Length uses head.content_length). An upgrade keeps `Upgrade`.
void writeUpstreamRequest(const MessageHead& req, const ForwardInfo& info, Framing framing,
                          std::string& out);

/// Appends the response head as sent to the client, with hop-by-hop fields removed, Via added
/// and the given framing and persistence. A 101 keeps `Upgrade` and `Connection: upgrade`.
/// The status line says HTTP/1.1 to every client (RFC 9110 2.5: the highest version weir
/// implements); `client_http10` only adds `Connection: keep-alive` when the connection stays.
void writeClientResponse(const MessageHead& resp, Framing framing, bool keep_alive,
                         bool client_http10, std::string& out, const HeaderEdits* edits = nullptr);

/// The answer to a TRACE that reached its last hop (RFC 9110 9.3.8): the request head as
/// received, without the fields that carry credentials (Authorization, Proxy-Authorization,
/// Cookie), as a message/http body.
std::string traceEcho(const MessageHead& req);

/// Appends one chunk of chunked transfer coding (RFC 9112 7.1). Empty data writes nothing.
void appendChunk(std::string& out, const char* data, size_t len);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

/// The reason phrase for a status code ("Not Found"), or "Unknown".
std::string_view reasonPhrase(int status);

}  // namespace weir::http
