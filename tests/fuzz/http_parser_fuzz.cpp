// Fuzz target: HttpParser in both modes, driven the way a session drives it (resume after each
// message, stop at an error or an upgrade, finish at the end). The first byte picks the mode and
// where the rest is cut into reads. Properties: nothing crashes; what the parser reports (heads,
// bodies, completions, the error status) does not depend on where the reads split; and every
// head it accepts, rewritten as weir sends it on (a request upstream, a response to the client),
// parses again with the same method and target or status, and the same framing.
#include <string>
#include <string_view>

#include "fuzz_target.h"
#include "http/parser.h"
#include "http/proxy_headers.h"

namespace {

using weir::http::HttpParser;
using weir::http::MessageHead;

// Parses a head weir wrote (`what` names it in failures) and returns what a peer reads from it.
MessageHead reparse(HttpParser::Mode mode, const std::string& out, const char* what) {
  struct Heads : HttpParser::Sink {
    std::vector<MessageHead> heads;
    bool onHead(HttpParser& p) override {
      heads.push_back(p.head());
      return true;
    }
    void onBody(HttpParser&, const char*, size_t) override {}
    void onMessageComplete(HttpParser&) override {}
  } sink;
  HttpParser again(mode, &sink, weir::http::ParseLimits{1 << 20, 1 << 20});
  const auto result = again.execute(out.data(), out.size());
  if (result.status == HttpParser::Status::Error || sink.heads.size() != 1) {
    std::fprintf(stderr, "fuzz check failed: %s does not parse as one head\n", what);
    std::abort();
  }
  return sink.heads.front();
}

// Writes `h` as DownstreamSession sends it upstream (origin-form targets only: absolute-form is
// reduced by the session) and parses the result again.
void checkForwardedHead(const MessageHead& h) {
  if (h.target.empty() || h.target.front() != '/') return;
  weir::http::ForwardInfo info;
  info.client_ip = "192.0.2.1";
  info.request_id = "0123456789abcdef";
  info.target = h.target;
  if (!h.find(weir::http::HeaderId::Host)) info.host = "backend";  // as the session does
  const auto framing = h.chunked          ? weir::http::Framing::Chunked
                       : h.content_length ? weir::http::Framing::Length
                                          : weir::http::Framing::None;
  std::string out;
  weir::http::writeUpstreamRequest(h, info, framing, out);
  const MessageHead sent = reparse(HttpParser::Mode::Request, out, "the head weir sends upstream");
  FUZZ_CHECK(sent.method == h.method && sent.target == h.target, "method or target changed");
  FUZZ_CHECK(sent.chunked == h.chunked && sent.content_length == h.content_length,
             "framing changed");
}

// Writes a response head as DownstreamSession sends it to an HTTP/1.1 client (a body of unknown
// length is re-chunked) and parses the result again.
void checkClientHead(const MessageHead& h) {
  if (h.status == 101) return;  // a tunnel follows, not a body
  const bool bodiless = h.status < 200 || h.status == 204 || h.status == 304;
  const auto framing = bodiless           ? weir::http::Framing::None
                       : h.content_length ? weir::http::Framing::Length
                                          : weir::http::Framing::Chunked;
  std::string out;
  weir::http::writeClientResponse(h, framing, true, false, out);
  const MessageHead sent =
      reparse(HttpParser::Mode::Response, out, "the head weir sends the client");
  FUZZ_CHECK(sent.status == h.status, "status changed");
  if (framing == weir::http::Framing::Length)
    FUZZ_CHECK(sent.content_length == h.content_length && !sent.chunked, "length changed");
  if (framing == weir::http::Framing::Chunked) FUZZ_CHECK(sent.chunked, "chunked framing lost");
  if (h.status < 200 || h.status == 204)
    FUZZ_CHECK(!sent.content_length && !sent.chunked, "framing on a 1xx or 204");
}

// Everything the parser reported, as text.
struct Transcript : HttpParser::Sink {
  std::string log;
  bool onHead(HttpParser& p) override {
    const auto& h = p.head();
    if (h.status == 0) {
      checkForwardedHead(h);
    } else {
      checkClientHead(h);
    }
    log += "head " + h.method + " " + h.target + " " + std::to_string(h.status) + " 1." +
           std::to_string(h.minor) +
           " cl=" + (h.content_length ? std::to_string(*h.content_length) : "-") +
           (h.chunked ? " chunked" : "") + (h.upgrade ? " upgrade" : "") +
           (h.keep_alive ? " keep-alive" : "") + "\n";
    for (const auto& f : h.headers) log += f.name + ": " + f.value + "\n";
    return true;
  }
  void onBody(HttpParser&, const char* d, size_t n) override { log.append(d, n); }
  void onMessageComplete(HttpParser&) override { log += "\ncomplete\n"; }
};

// Feeds `bytes` in reads that end at `cuts` (ascending offsets), the way DownstreamSession does.
std::string transcribe(HttpParser::Mode mode, std::string_view bytes,
                       const std::vector<size_t>& cuts) {
  Transcript t;
  HttpParser parser(mode, &t, weir::http::ParseLimits{1024, 256});
  size_t start = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : bytes.size();
    const char* data = bytes.data() + start;
    size_t len = end - start;
    start = end;
    while (len > 0) {
      const auto out = parser.execute(data, len);
      FUZZ_CHECK(out.consumed <= len, "consumed more than it was given");
      if (out.status == HttpParser::Status::NeedMore) break;
      if (out.status == HttpParser::Status::Error) {
        // 501 needs the whole request line in one read (see isUnknownMethodLine): compare as 400.
        const int status = parser.errorStatus() == 501 ? 400 : parser.errorStatus();
        FUZZ_CHECK(status >= 400 && status <= 599, "an error without an error status");
        return t.log + "error " + std::to_string(status) + "\n";
      }
      if (out.status == HttpParser::Status::Upgrade) return t.log + "upgrade\n";
      parser.resume();
      data += out.consumed;
      len -= out.consumed;
    }
  }
  if (!parser.inMessage()) return t.log + "end\n";
  // The peer closes here, as a session would see it: that completes a close-delimited body.
  const auto end = parser.finish();
  return t.log + (end.status == HttpParser::Status::MessageComplete ? "end\n" : "cut short\n");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto mode = (data[0] & 1) ? HttpParser::Mode::Response : HttpParser::Mode::Request;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<size_t> cuts;
  uint32_t x = data[0] * 2654435761u + static_cast<uint32_t>(size);
  for (size_t at = 0; bytes.size() > 1;) {
    x = x * 1103515245u + 12345u;
    at += 1 + (x >> 16) % 24;
    if (at >= bytes.size()) break;
    cuts.push_back(at);
  }
  const std::string whole = transcribe(mode, bytes, {});
  const std::string split = transcribe(mode, bytes, cuts);
  FUZZ_CHECK(whole == split, "the outcome depends on where the reads split");
  return 0;
}

std::vector<std::string> fuzzSeeds() {
  // The first byte picks the mode: 0 request, 1 response.
  return {
      std::string(1, '\0') + "GET /a?b=c HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n",
      std::string(1, '\0') +
          "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
          "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
      std::string(1, '\0') +
          "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
      std::string(1, '\0') + "GET http://h:8080/p HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n",
      std::string(1, '\0') +
          "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
          "Upgrade: websocket\r\n\r\nframes",
      std::string(1, '\0') + "GET / HTTP/1.0\r\n\r\n",
      std::string(1, '\x01') + "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
      std::string(1, '\x01') +
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5\r\nhello\r\n0\r\n\r\n",
      std::string(1, '\x01') + "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
      std::string(1, '\x01') + "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nuntil the end",
      std::string(1, '\x01') +
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\n\r\nraw",
  };
}
