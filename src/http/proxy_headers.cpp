#include "http/proxy_headers.h"

#include <algorithm>
#include <cstring>

namespace weir::http {
namespace {

bool hopByHopId(HeaderId id) {
  switch (id) {
    case HeaderId::Connection:
    case HeaderId::KeepAlive:
    case HeaderId::ProxyConnection:
    case HeaderId::Te:
    case HeaderId::Trailer:
    case HeaderId::TransferEncoding:
    case HeaderId::Upgrade:
    case HeaderId::ProxyAuthenticate:
      return true;
    default:
      return false;
  }
}

// Whether a Connection field names anything but "close" and "keep-alive" (RFC 9110 7.6.1):
// only then must each field be looked up in it. The common "Connection: keep-alive" needs not.
bool connectionNamesFields(const MessageHead& head) {
  for (const auto& f : head.headers) {
    if (f.id != HeaderId::Connection) continue;
    if (anyListItem(f.value, [](std::string_view item) {
          return !item.empty() && !iequals(item, "close") && !iequals(item, "keep-alive");
        }))
      return true;
  }
  return false;
}

// Hop-by-hop: a fixed list, and whatever a Connection field names (looked up only when it
// names something: `named`, from connectionNamesFields), except Host: a request sent on without
// one would be invalid (RFC 9112 3.2), and a backend would pick its default virtual host.
bool hopByHop(const MessageHead& head, const HeaderField& f, bool named) {
  return hopByHopId(f.id) || (named && f.id != HeaderId::Host && head.connectionHas(f.name));
}

// Appends the pieces of a head to a string through a pointer into room made up front: a bounds
// check and a copy per piece, where std::string::append would also update the size and the
// terminator each time. `room` is a guess; a longer head grows the string. The destructor cuts
// the string to what was written.
class Appender {
 public:
  Appender(std::string& out, size_t room) : out_(out) {
    const size_t used = out.size();
    out.resize(used + room);
    p_ = out.data() + used;
    end_ = out.data() + out.size();
  }
  ~Appender() { out_.resize(static_cast<size_t>(p_ - out_.data())); }
  Appender(const Appender&) = delete;
  Appender& operator=(const Appender&) = delete;

  void put(std::string_view s) {
    if (s.empty()) return;  // its data() may be null, which memcpy must not get
    if (s.size() > static_cast<size_t>(end_ - p_)) grow(s.size());
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void header(std::string_view name, std::string_view value) {
    put(name);
    put(": ");
    put(value);
    put("\r\n");
  }
  void decimal(uint64_t v) {
    char buf[24];
    int i = sizeof buf;
    do {
      buf[--i] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v);
    put({buf + i, sizeof buf - static_cast<size_t>(i)});
  }

 private:
  void grow(size_t n) {
    const size_t used = static_cast<size_t>(p_ - out_.data());
    out_.resize(std::max(out_.size() * 2, used + n));
    p_ = out_.data() + used;
    end_ = out_.data() + out_.size();
  }

  std::string& out_;
  char* p_;
  char* end_;
};

// Room for a head: its fields as they came, plus `extra` for what weir adds around them. The
// room stays as the string's capacity, so it is not padded much: a longer head grows it.
size_t roomFor(const MessageHead& head, const HeaderEdits* edits, size_t extra) {
  size_t n = extra;
  for (const auto& f : head.headers) n += f.name.size() + f.value.size() + 4;
  if (edits) {
    for (const auto& f : edits->set) n += f.name.size() + f.value.size() + 4;
    for (const auto& f : edits->add) n += f.name.size() + f.value.size() + 4;
  }
  return n;
}

void appendFraming(Appender& out, Framing framing, const MessageHead& head) {
  if (framing == Framing::Length) {
    out.put("Content-Length: ");
    out.decimal(head.content_length.value_or(0));
    out.put("\r\n");
  } else if (framing == Framing::Chunked) {
    out.put("Transfer-Encoding: chunked\r\n");
  }
}

void appendEdits(Appender& out, const HeaderEdits* edits) {
  if (!edits) return;
  for (const auto& f : edits->set) out.header(f.name, f.value);
  for (const auto& f : edits->add) out.header(f.name, f.value);
}

}  // namespace

bool HeaderEdits::drops(std::string_view name) const {
  for (const auto& r : remove)
    if (sameFieldName(r, name)) return true;
  for (const auto& f : set)
    if (sameFieldName(f.name, name)) return true;
  return false;
}

void writeUpstreamRequest(const MessageHead& req, const ForwardInfo& info, Framing framing,
                          std::string& buf) {
  // Request line, X-Forwarded-*, Via, X-Request-Id, framing: about 230 bytes and the values.
  Appender out(buf, roomFor(req, info.edits,
                            256 + req.method.size() + info.target.size() + 2 * info.host.size() +
                                info.client_ip.size() + info.forwarded_host.size() +
                                info.request_id.size()));
  out.put(req.method);
  out.put(" ");
  out.put(info.target);
  out.put(" HTTP/1.1\r\n");
  const std::string* xff = nullptr;
  const std::string* via = nullptr;
  bool has_request_id = false;
  bool has_host = false;
  const bool has_connection = connectionNamesFields(req);
  const bool edits = info.edits && !info.edits->empty();
  for (const auto& f : req.headers) {
    // Underscored: a backend reading CGI-style names could take X_Forwarded_For for the
    // X-Forwarded-For written below, or Transfer_Encoding for the framing.
    if (f.id == HeaderId::ContentLength || f.id == HeaderId::Underscored ||
        hopByHop(req, f, has_connection))
      continue;
    if (edits && info.edits->drops(f.name)) continue;
    switch (f.id) {
      case HeaderId::XForwardedFor:
        if (!xff) xff = &f.value;
        continue;
      case HeaderId::Via:
        if (!via) via = &f.value;
        continue;
      case HeaderId::XForwardedProto:
      case HeaderId::XForwardedHost:
        continue;
      case HeaderId::XRequestId:
        has_request_id = true;
        break;
      case HeaderId::Host:
        has_host = true;
        if (!info.host.empty()) {  // absolute-form target: its authority wins (RFC 9112 3.2.2)
          out.header("Host", info.host);
          continue;
        }
        break;
      case HeaderId::MaxForwards:
        // RFC 9110 7.6.2: an OPTIONS or TRACE goes on with one hop fewer (0 is answered here).
        if (const auto hops = maxForwards(req); hops && *hops > 0) {
          out.header("Max-Forwards", std::to_string(*hops - 1));
          continue;
        }
        break;
      default:
        break;
    }
    out.header(f.name, f.value);
  }
  if (!has_host && !info.host.empty()) out.header("Host", info.host);
  // The fields weir adds itself, unless the route sets or removes them.
  auto own = [&](std::string_view name) { return !info.edits || !info.edits->drops(name); };
  if (own("x-forwarded-for")) {
    // X-Forwarded-For: every earlier value (all fields, in order, unless Connection names
    // them), then the client.
    out.put("X-Forwarded-For: ");
    bool first = true;
    for (const auto& f : req.headers) {
      if (f.id != HeaderId::XForwardedFor || hopByHop(req, f, has_connection)) continue;
      if (!first) out.put(", ");
      out.put(f.value);
      first = false;
    }
    if (!first) out.put(", ");
    out.put(info.client_ip);
    out.put("\r\n");
  }
  if (own("x-forwarded-proto")) out.header("X-Forwarded-Proto", info.proto);
  if (own("x-forwarded-host")) {
    if (!info.forwarded_host.empty()) {
      out.header("X-Forwarded-Host", info.forwarded_host);
    } else if (const std::string* host = req.find(HeaderId::Host)) {
      out.header("X-Forwarded-Host", *host);
    }
  }
  if (own("via")) {
    out.put("Via: ");
    if (via) {
      out.put(*via);
      out.put(", ");
    }
    out.put(req.isHttp10() ? "1.0 weir\r\n" : "1.1 weir\r\n");
  }
  if (!has_request_id && own("x-request-id")) out.header("X-Request-Id", info.request_id);
  appendEdits(out, info.edits);
  if (req.upgrade) {
    if (const std::string* up = req.find(HeaderId::Upgrade)) out.header("Upgrade", *up);
    out.put("Connection: upgrade\r\n");
  }
  appendFraming(out, framing, req);
  out.put("\r\n");
}

void writeClientResponse(const MessageHead& resp, Framing framing, bool keep_alive,
                         bool client_http10, std::string& buf, const HeaderEdits* edits) {
  // Status line, Via, Connection, Transfer-Encoding: under 100 bytes and the reason.
  Appender out(buf, roomFor(resp, edits, 96 + resp.reason.size()));
  out.put("HTTP/1.1 ");
  out.decimal(static_cast<uint64_t>(resp.status));
  out.put(" ");
  out.put(resp.reason.empty() ? reasonPhrase(resp.status) : std::string_view(resp.reason));
  out.put("\r\n");
  const bool switching = resp.status == 101;
  const std::string* via = nullptr;
  const bool has_connection = connectionNamesFields(resp);
  for (const auto& f : resp.headers) {
    if (f.id == HeaderId::Via) {
      if (!via) via = &f.value;
      continue;
    }
    if (f.id == HeaderId::ContentLength) {
      // Kept as the origin sent it where no body follows (HEAD, 304), or when relayed as is;
      // never in a 1xx or 204, which cannot have one (RFC 9110 8.6).
      const bool forbidden = resp.status < 200 || resp.status == 204;
      if (!forbidden && (framing == Framing::Length || framing == Framing::None))
        out.header(f.name, f.value);
      continue;
    }
    if (switching && f.id == HeaderId::Upgrade) {
      out.header(f.name, f.value);
      continue;
    }
    if (hopByHop(resp, f, has_connection)) continue;
    if (edits && edits->drops(f.name)) continue;
    out.header(f.name, f.value);
  }
  appendEdits(out, edits);
  if (!edits || !edits->drops("via")) {
    out.put("Via: ");
    if (via) {
      out.put(*via);
      out.put(", ");
    }
    out.put(resp.isHttp10() ? "1.0 weir\r\n" : "1.1 weir\r\n");
  }
  if (switching) {
    out.put("Connection: upgrade\r\n");
  } else if (!keep_alive) {
    out.put("Connection: close\r\n");
  } else if (client_http10) {
    out.put("Connection: keep-alive\r\n");
  }
  if (framing == Framing::Chunked) out.put("Transfer-Encoding: chunked\r\n");
  out.put("\r\n");
}

std::string traceEcho(const MessageHead& req) {
  std::string out =
      req.method + " " + req.target + (req.isHttp10() ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  for (const auto& f : req.headers) {
    if (iequals(f.name, "authorization") || iequals(f.name, "proxy-authorization") ||
        iequals(f.name, "cookie"))
      continue;
    out.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  out.append("\r\n");
  return out;
}

void appendChunk(std::string& out, const char* data, size_t len) {
  if (len == 0) return;
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[20];
  int i = sizeof buf;
  size_t v = len;
  do {
    buf[--i] = kHex[v & 0xf];
    v >>= 4;
  } while (v);
  out.append(buf + i, sizeof buf - static_cast<size_t>(i));
  out.append("\r\n");
  out.append(data, len);
  out.append("\r\n");
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace weir::http
