#include "http/parser.h"

#include <array>
#include <cctype>
#include <cstring>

namespace weir::http {
namespace {

HttpParser* self(llhttp_t* p) { return static_cast<HttpParser*>(p->data); }

// A byte table: digits, letters and the bytes of `extra`.
constexpr std::array<bool, 256> alnumAnd(std::string_view extra) {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 32] = true;
  for (char c : extra) t[static_cast<unsigned char>(c)] = true;
  return t;
}

constexpr auto kTokenChars = alnumAnd("!#$%&'*+-.^_`|~");  // tchar (RFC 9110 5.6.2)
// reg-name (RFC 3986 3.2.2): unreserved, '%' of pct-encoded, sub-delims.
constexpr auto kRegNameChars = alnumAnd("-._~%!$&'()*+,;=");

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!kTokenChars[c]) return false;
  return true;
}

// Host = uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2): an IP literal in brackets or a
// reg-name (unreserved, pct-encoded, sub-delims; dotted IPv4 fits it), then an optional port of
// at most 65535. No userinfo, no whitespace, no second colon.
bool isValidHost(std::string_view host) {
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (unsigned char c : host.substr(1, close - 1))
      if (!std::isxdigit(c) && c != ':' && c != '.') return false;
    const std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    port = rest.substr(rest.empty() ? 0 : 1);
  } else {
    const size_t colon = host.find(':');
    for (unsigned char c : host.substr(0, colon))
      if (!kRegNameChars[c]) return false;
    if (colon != std::string_view::npos) port = host.substr(colon + 1);
  }
  if (port.size() > 5) return false;
  unsigned value = 0;
  for (unsigned char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return value <= 65535;
}

// absolute-form (RFC 9112 3.2.2): its authority replaces Host, so it is held to Host's rules.
// An empty path before a query means "/" (RFC 3986 6.2.3): "http://a?q" becomes "http://a/?q".
bool normalizeAbsoluteForm(std::string& target) {
  const TargetParts parts = splitTarget(target);
  if (!parts.absolute) return true;
  if (parts.authority.empty() || !isValidHost(parts.authority)) return false;
  if (parts.origin.front() == '?')
    target.insert(static_cast<size_t>(parts.origin.data() - target.data()), 1, '/');
  return true;
}

// "gzip, chunked": a well-formed list whose last coding is chunked (once), after codings weir
// does not decode. RFC 9112 6.1 answers those with 501; any other list but "chunked" leaves the
// body length unknowable (6.3): 400.
bool chunkedAfterOtherCodings(std::string_view te) {
  size_t items = 0;
  bool last_chunked = false;
  const bool malformed = anyListItem(te, [&](std::string_view item) {
    if (item.empty() || last_chunked) return true;  // an empty item, or chunked before another
    ++items;
    last_chunked = iequals(item, "chunked");
    return false;
  });
  return !malformed && last_chunked && items > 1;
}

// llhttp knows a fixed list of methods and stops at the first byte that leaves it. When the rest
// of the request line is well formed (token SP target SP HTTP/d.d), the method is one weir does
// not implement (RFC 9110 9.1: 501), not a malformed request (400). `data` is the piece llhttp
// failed in; a request line split across reads falls back to 400.
bool isUnknownMethodLine(std::string_view data) {
  const size_t start = data.find_first_not_of("\r\n");
  if (start == std::string_view::npos) return false;
  std::string_view line = data.substr(start);
  line = line.substr(0, line.find('\r'));
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return false;
  const std::string_view v = line.substr(sp2 + 1);
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  return isToken(line.substr(0, sp1)) && v.size() == 8 && v.substr(0, 5) == "HTTP/" &&
         digit(v[5]) && v[6] == '.' && digit(v[7]);
}

// RFC 9112 3.2 with RFC 3986: a request target carries no fragment and no byte outside ASCII;
// llhttp lets both through. A '#' would let weir route one path while the upstream serves
// another ("/admin#.png"); raw non-ASCII bytes mean the same URI to no two servers.
bool validTargetBytes(std::string_view target) {
  for (unsigned char c : target)
    if (c == '#' || c >= 0x7f) return false;
  return true;
}

// "Upgrade: h2c" is not forwarded: an upstream that switched would speak HTTP/2 on a tunnel
// weir no longer reads, so every later request on it would bypass weir's routes and limits
// ("h2c smuggling"). RFC 9113 has also retired the h2c upgrade.
bool upgradesToH2c(const MessageHead& h) {
  const std::string* up = h.find(HeaderId::Upgrade);
  return up && anyListItem(*up, [](std::string_view item) { return iequals(item, "h2c"); });
}

}  // namespace

HttpParser::HttpParser(Mode mode, Sink* sink, ParseLimits limits)
    : mode_(mode), sink_(sink), limits_(limits) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = onMessageBegin;
  settings_.on_url = onUrl;
  settings_.on_status = onStatus;
  settings_.on_header_field = onHeaderField;
  settings_.on_header_field_complete = onHeaderFieldComplete;
  settings_.on_header_value = onHeaderValue;
  settings_.on_header_value_complete = onHeaderValueComplete;
  settings_.on_headers_complete = onHeadersComplete;
  settings_.on_body = onBodyCb;
  settings_.on_message_complete = onMessageCompleteCb;
  reset();
}

void HttpParser::reset() {
  llhttp_init(&parser_, mode_ == Mode::Request ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
  parser_.data = this;
  // llhttp 8 knows only 0.9, 1.0, 1.1 and 2.0 and refuses the rest as malformed; weir checks the
  // version itself (finishHead), so that HTTP/1.2 and up are handled as RFC 9110 asks.
  parser_.lenient_flags |= LENIENT_VERSION;
  recycleHeaders();
  head_complete_ = false;
  in_message_ = false;
  no_body_ = false;
  error_status_ = 0;
  error_reason_.clear();
  restartScan();
}

void HttpParser::compact() {
  std::vector<HeaderField>().swap(head_.headers);
  std::vector<HeaderField>().swap(spare_);
  fields_ = 0;
  std::string().swap(head_.target);
  std::string().swap(head_.reason);
}

// The fields of the last message stay where they are, so the next message's names and values
// are written over them and reuse their memory instead of allocating anew (startField); the
// spares a shorter message leaves wait in spare_ (dropSpareFields) and come back here.
void HttpParser::recycleHeaders() {
  std::vector<HeaderField> fields = std::move(head_.headers);  // kept through clear()
  head_.clear();
  head_.headers = std::move(fields);
  for (auto& f : spare_) head_.headers.push_back(std::move(f));
  spare_.clear();
  fields_ = 0;
  in_field_ = false;
}

HeaderField& HttpParser::startField() {
  in_field_ = true;
  if (fields_ == head_.headers.size()) {
    ++fields_;
    return head_.headers.emplace_back();
  }
  HeaderField& f = head_.headers[fields_++];
  f.name.clear();
  f.value.clear();
  f.id = HeaderId::Other;
  return f;
}

// Cuts head_.headers to the message's own fields, keeping the rest in spare_.
void HttpParser::dropSpareFields() {
  if (fields_ == head_.headers.size()) return;
  for (size_t i = fields_; i < head_.headers.size(); ++i)
    spare_.push_back(std::move(head_.headers[i]));
  head_.headers.resize(fields_);
}

void HttpParser::restartScan() {
  scanning_ = true;
  head_bytes_ = 0;
  line_ = 0;
  line_len_ = 0;
  prev_ = '\n';
}

void HttpParser::resume() {
  if (llhttp_get_errno(&parser_) == HPE_PAUSED) llhttp_resume(&parser_);
  restartScan();
}

void HttpParser::fail(int status, std::string reason) {
  if (error_status_ == 0) {
    error_status_ = status;
    error_reason_ = std::move(reason);
  }
}

// Checks the raw bytes of the head before llhttp sees them, a line at a time (memchr finds the
// line ends), for what llhttp 8 lets through but weir refuses: bare CR or LF, obs-fold (RFC 9112
// 5.2), tabs or double spaces in the request line, and the size limits. A line may be split
// between calls: line_len_ and prev_ carry over. Stops at the empty line that ends the head.
bool HttpParser::scanHead(const char* data, size_t len) {
  const bool request = mode_ == Mode::Request;
  const int bad = request ? 400 : 502;
  size_t i = 0;
  while (i < len && scanning_) {
    const char* seg = data + i;
    const auto* nl = static_cast<const char*>(std::memchr(seg, '\n', len - i));
    const size_t n = nl ? static_cast<size_t>(nl - seg) : len - i;  // line bytes before the LF
    head_bytes_ += n + (nl ? 1 : 0);
    if (head_bytes_ > limits_.max_head_bytes) {
      if (request && line_ == 0) {
        fail(414, "request line too long");
      } else {
        fail(request ? 431 : 502, "header section too large");
      }
      return false;
    }
    if (n > 0) {
      // A CR is allowed only right before the LF: last in this piece, or first in the next.
      const auto* cr = static_cast<const char*>(std::memchr(seg, '\r', n));
      if (prev_ == '\r' || (cr && cr != seg + n - 1)) {
        fail(bad, "bare CR in head");
        return false;
      }
      const size_t content = n - (cr ? 1 : 0);
      if (content > 0 && line_len_ == 0 && line_ > 0 && (seg[0] == ' ' || seg[0] == '\t')) {
        fail(bad, "obsolete line folding");
        return false;
      }
      if (request && line_ == 0 && content > 0) {
        if (std::memchr(seg, '\t', content) || (prev_ == ' ' && seg[0] == ' ') ||
            std::string_view(seg, content).find("  ") != std::string_view::npos) {
          fail(400, "malformed request line");
          return false;
        }
        if (line_len_ + content > limits_.max_uri_bytes + 65) {
          fail(414, "request line too long");
          return false;
        }
      }
      line_len_ += content;
      prev_ = seg[n - 1];
    }
    if (!nl) break;
    if (prev_ != '\r') {
      fail(bad, "bare LF in head");
      return false;
    }
    if (line_len_ == 0 && line_ > 0) {
      scanning_ = false;  // the empty line: the head ends here
    } else if (line_len_ > 0) {
      ++line_;
    }
    line_len_ = 0;
    prev_ = '\n';
    i += n + 1;
  }
  return true;
}

HttpParser::Outcome HttpParser::execute(const char* data, size_t len) {
  const Outcome out = parse(data, len);
  dropSpareFields();  // a head still in progress shows only its own fields
  return out;
}

HttpParser::Outcome HttpParser::parse(const char* data, size_t len) {
  if (error_status_ != 0) return {Status::Error, 0};
  if (scanning_ && !scanHead(data, len)) return {Status::Error, 0};
  llhttp_errno_t err = llhttp_execute(&parser_, data, len);
  if (err == HPE_OK) return {Status::NeedMore, len};
  size_t consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
  if (err == HPE_PAUSED) return {Status::MessageComplete, consumed};
  if (err == HPE_PAUSED_UPGRADE) {
    // An upgrade weir declines (h2c, see upgradesToH2c) leaves a plain HTTP/1.1 request: the
    // connection goes on as HTTP/1.1 (RFC 9110 7.8: a server may ignore Upgrade).
    if (mode_ == Mode::Request && !head_.upgrade) {
      llhttp_resume_after_upgrade(&parser_);
      return {Status::MessageComplete, consumed};
    }
    return {Status::Upgrade, consumed};
  }
  if (error_status_ == 0) {
    if (mode_ == Mode::Response) {
      fail(502, llhttp_get_error_reason(&parser_));
    } else if (err == HPE_INVALID_METHOD && isUnknownMethodLine({data, len})) {
      fail(501, "method not implemented");
    } else {
      fail(400, llhttp_get_error_reason(&parser_));
    }
  }
  return {Status::Error, consumed};
}

HttpParser::Outcome HttpParser::finish() {
  if (error_status_ != 0) return {Status::Error, 0};
  llhttp_errno_t err = llhttp_finish(&parser_);
  if (err == HPE_OK) return {in_message_ ? Status::NeedMore : Status::MessageComplete, 0};
  if (err == HPE_PAUSED) return {Status::MessageComplete, 0};
  fail(mode_ == Mode::Request ? 400 : 502, "connection closed before the message was complete");
  return {Status::Error, 0};
}

int HttpParser::onMessageBegin(llhttp_t* p) {
  auto* s = self(p);
  s->recycleHeaders();
  s->head_complete_ = false;
  s->in_message_ = true;
  return 0;
}

int HttpParser::onUrl(llhttp_t* p, const char* at, size_t n) {
  auto* s = self(p);
  if (s->head_.target.size() + n > s->limits_.max_uri_bytes) {
    s->fail(414, "request target too long");
    return HPE_USER;
  }
  s->head_.target.append(at, n);
  return 0;
}

int HttpParser::onStatus(llhttp_t* p, const char* at, size_t n) {
  self(p)->head_.reason.append(at, n);
  return 0;
}

int HttpParser::onHeaderField(llhttp_t* p, const char* at, size_t n) {
  auto* s = self(p);
  HeaderField& f = s->in_field_ ? s->field() : s->startField();
  f.name.append(at, n);
  return 0;
}

int HttpParser::onHeaderFieldComplete(llhttp_t* p) {
  auto* s = self(p);
  HeaderField& f = s->in_field_ ? s->field() : s->startField();
  s->in_field_ = false;
  if (!isToken(f.name)) {
    s->fail(s->mode_ == Mode::Request ? 400 : 502, "invalid header name");
    return HPE_USER;
  }
  return 0;
}

int HttpParser::onHeaderValue(llhttp_t* p, const char* at, size_t n) {
  auto* s = self(p);
  if (s->fields_ == 0) return 0;  // llhttp reports a field first
  s->field().value.append(at, n);
  return 0;
}

int HttpParser::onHeaderValueComplete(llhttp_t* p) {
  auto* s = self(p);
  if (s->fields_ == 0) return 0;
  HeaderField& f = s->field();
  // llhttp keeps trailing whitespace in values; RFC 9110 5.5 excludes it from the value.
  while (!f.value.empty() && (f.value.back() == ' ' || f.value.back() == '\t')) f.value.pop_back();
  f.id = headerId(f.name);
  return 0;
}

int HttpParser::onHeadersComplete(llhttp_t* p) {
  auto* s = self(p);
  s->dropSpareFields();
  int rc = s->finishHead();
  if (rc < 0) return HPE_USER;
  s->head_complete_ = true;
  if (!s->sink_->onHead(*s)) {
    s->fail(s->mode_ == Mode::Request ? 400 : 502, "rejected");
    return HPE_USER;
  }
  return rc;
}

// Fills the framing fields of the head and rejects what RFC 9112 forbids or leaves ambiguous.
// Returns llhttp's headers-complete code (0, or 1 for "no body"), or -1 after fail().
int HttpParser::finishHead() {
  const bool request = mode_ == Mode::Request;
  const int bad = request ? 400 : 502;
  MessageHead& h = head_;
  h.major = llhttp_get_http_major(&parser_);
  h.minor = llhttp_get_http_minor(&parser_);
  if (h.major != 1) {
    fail(request ? 505 : 502, "unsupported HTTP version");
    return -1;
  }
  // RFC 9110, 2.5: a higher minor version of HTTP/1 is handled as the highest weir implements.
  if (h.minor > 1) h.minor = 1;
  // One pass over the fields: the framing and Host fields, and NUL in any value.
  size_t hosts = 0, te_count = 0, cl_count = 0;
  const std::string* host = nullptr;
  const std::string* te = nullptr;
  const std::string* cl = nullptr;
  for (const auto& f : h.headers) {
    switch (f.id) {
      case HeaderId::Host:
        if (hosts++ == 0) host = &f.value;
        break;
      case HeaderId::TransferEncoding:
        if (te_count++ == 0) te = &f.value;
        break;
      case HeaderId::ContentLength:
        if (cl_count++ == 0) cl = &f.value;
        break;
      default:
        break;
    }
    // scanHead let no CR or LF through but as a line end, so only NUL is left to refuse.
    if (std::memchr(f.value.data(), '\0', f.value.size()) != nullptr) {
      fail(bad, "invalid character in header value");
      return -1;
    }
  }
  if (request) {
    h.method = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(&parser_)));
    if (hosts > 1 || (hosts == 0 && h.minor == 1)) {
      fail(400, hosts ? "more than one Host header" : "missing Host header");
      return -1;
    }
    if (host && !isValidHost(*host)) {
      fail(400, "invalid Host header");
      return -1;
    }
    if (!validTargetBytes(h.target)) {
      fail(400, "invalid character in request target");
      return -1;
    }
    if (!normalizeAbsoluteForm(h.target)) {
      fail(400, "invalid authority in absolute-form target");
      return -1;
    }
    // Routes and the upstream see one spelling of the path: "/%61dmin", "//admin" and
    // "/x/../admin" are "/admin" to most servers, so a route for "/admin" must see them so too.
    switch (normalizeTargetPath(h.target)) {
      case PathCheck::BadPercent:
        fail(400, "invalid percent-encoding in request target");
        return -1;
      case PathCheck::AboveRoot:
        fail(400, "request target path climbs above the root");
        return -1;
      default:
        break;
    }
  } else {
    h.status = llhttp_get_status_code(&parser_);
    if (h.status < 100 || h.status > 599) {  // RFC 9110 15: three digits, 100 to 599
      fail(502, "invalid status code");
      return -1;
    }
  }
  if (te_count > 0 && h.minor == 0) {  // RFC 9112 6.1: faulty framing in HTTP/1.0
    fail(bad, "Transfer-Encoding in an HTTP/1.0 message");
    return -1;
  }
  if (te_count > 0) {
    if (te_count > 1 || !iequals(*te, "chunked")) {
      const bool not_implemented = te_count == 1 && chunkedAfterOtherCodings(*te);
      fail(!request ? 502 : not_implemented ? 501 : 400, "unsupported Transfer-Encoding");
      return -1;
    }
    h.chunked = true;
  }
  if (cl) {
    if (cl_count > 1) {  // llhttp refuses these too; never pick one of several
      fail(bad, "more than one Content-Length");
      return -1;
    }
    if (te_count > 0) {
      fail(bad, "both Content-Length and Transfer-Encoding");
      return -1;
    }
    uint64_t value = 0;
    if (cl->empty() || cl->size() > 19) {
      fail(bad, "invalid Content-Length");
      return -1;
    }
    for (char c : *cl) {
      if (c < '0' || c > '9') {
        fail(bad, "invalid Content-Length");
        return -1;
      }
      value = value * 10 + static_cast<uint64_t>(c - '0');
    }
    h.content_length = value;
  }
  h.keep_alive = llhttp_should_keep_alive(&parser_) != 0;
  h.upgrade = llhttp_get_upgrade(&parser_) != 0 && !(request && upgradesToH2c(h));
  // RFC 9112 6.3: responses to HEAD, 1xx (but 101, which upgrades), 204 and 304 end at the
  // head whatever their Content-Length says; llhttp 8 would wait for the body.
  const bool bodiless = h.status == 204 || h.status == 304 || (h.status < 200 && h.status != 101);
  return (!request && (no_body_ || bodiless)) ? 1 : 0;
}

int HttpParser::onBodyCb(llhttp_t* p, const char* at, size_t n) {
  auto* s = self(p);
  s->sink_->onBody(*s, at, n);
  return s->error_status_ ? HPE_USER : 0;
}

int HttpParser::onMessageCompleteCb(llhttp_t* p) {
  auto* s = self(p);
  s->in_message_ = false;
  s->sink_->onMessageComplete(*s);
  if (s->error_status_) return HPE_USER;
  // An upgrade pauses by itself (HPE_PAUSED_UPGRADE); everything else pauses here so that
  // pipelined messages are handled one at a time.
  return llhttp_get_upgrade(p) ? 0 : HPE_PAUSED;
}

}  // namespace weir::http
