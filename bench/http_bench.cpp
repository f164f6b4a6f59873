// The per-request HTTP work of the proxy, without sockets:
// - HttpParser over a typical browser request head and a typical upstream response head (with
//   a small body), whole and split in two reads: bytes/s and messages/s. The parser includes
//   weir's own checks (bare CR/LF, obs-fold, framing, Host) on top of llhttp.
// - writeUpstreamRequest / writeClientResponse: the header rewriting done once per request in
//   each direction (hop-by-hop fields dropped, X-Forwarded-*, Via, X-Request-Id, framing).
// - AccessLog::format: one access-log line, combined and JSON.
#include <benchmark/benchmark.h>

#include <string>

#include "http/parser.h"
#include "http/proxy_headers.h"
#include "proxy/access_log.h"

namespace {

using weir::http::HttpParser;

const std::string kRequest =
    "GET /static/app/main.js?v=20261124 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    "Accept: */*\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://www.example.com/\r\n"
    "Cookie: session=7d1c0a5e9f3b4c2a8e6d; theme=dark\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

const std::string kResponse =
    "HTTP/1.1 200 OK\r\n"
    "Server: nginx/1.22.1\r\n"
    "Date: Tue, 24 Nov 2026 09:00:00 GMT\r\n"
    "Content-Type: application/javascript\r\n"
    "Content-Length: 32\r\n"
    "Last-Modified: Mon, 23 Nov 2026 18:00:00 GMT\r\n"
    "Connection: keep-alive\r\n"
    "ETag: \"6553f2a1-20\"\r\n"
    "Cache-Control: max-age=3600\r\n"
    "\r\n"
    "console.log('hello, world!!');\n\n";

struct CountingSink : HttpParser::Sink {
  size_t body = 0;
  size_t messages = 0;
  bool onHead(HttpParser&) override { return true; }
  void onBody(HttpParser&, const char*, size_t len) override { body += len; }
  void onMessageComplete(HttpParser&) override { ++messages; }
};

// One message per iteration, fed in `pieces` reads, as a keep-alive connection would.
void parseLoop(benchmark::State& state, HttpParser::Mode mode, const std::string& bytes) {
  const size_t pieces = static_cast<size_t>(state.range(0));
  CountingSink sink;
  HttpParser parser(mode, &sink, {});
  const size_t step = (bytes.size() + pieces - 1) / pieces;
  for (auto _ : state) {
    for (size_t at = 0; at < bytes.size(); at += step) {
      const size_t n = std::min(step, bytes.size() - at);
      auto out = parser.execute(bytes.data() + at, n);
      if (out.status == HttpParser::Status::Error) state.SkipWithError("parse error");
    }
    parser.resume();
  }
  if (sink.messages != static_cast<size_t>(state.iterations()))
    state.SkipWithError("not every message completed");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_ParseRequest(benchmark::State& state) {
  parseLoop(state, HttpParser::Mode::Request, kRequest);
}
BENCHMARK(BM_ParseRequest)->Arg(1)->Arg(2);

void BM_ParseResponse(benchmark::State& state) {
  parseLoop(state, HttpParser::Mode::Response, kResponse);
}
BENCHMARK(BM_ParseResponse)->Arg(1)->Arg(2);

// A parsed head to rewrite, as the session has it after onHead.
weir::http::MessageHead parsedHead(HttpParser::Mode mode, const std::string& bytes) {
  struct Keep : HttpParser::Sink {
    weir::http::MessageHead head;
    bool onHead(HttpParser& p) override {
      head = p.head();
      return true;
    }
    void onBody(HttpParser&, const char*, size_t) override {}
    void onMessageComplete(HttpParser&) override {}
  } keep;
  HttpParser parser(mode, &keep, {});
  parser.execute(bytes.data(), bytes.size());
  return keep.head;
}

void BM_RewriteRequestHead(benchmark::State& state) {
  const auto head = parsedHead(HttpParser::Mode::Request, kRequest);
  weir::http::ForwardInfo info;
  info.client_ip = "203.0.113.7";
  info.request_id = "4f1c2b3a5d6e7f8091a2b3c4d5e6f708";
  info.target = head.target;
  std::string out;
  for (auto _ : state) {
    out.clear();
    weir::http::writeUpstreamRequest(head, info, weir::http::Framing::None, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_RewriteRequestHead);

void BM_RewriteResponseHead(benchmark::State& state) {
  const auto head = parsedHead(HttpParser::Mode::Response, kResponse);
  std::string out;
  for (auto _ : state) {
    out.clear();
    weir::http::writeClientResponse(head, weir::http::Framing::Length, true, false, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_RewriteResponseHead);

void BM_AccessLogLine(benchmark::State& state) {
  const auto format =
      state.range(0) == 0 ? weir::config::LogFormat::Combined : weir::config::LogFormat::Json;
  weir::proxy::AccessRecord r;
  r.remote_addr = "203.0.113.7";
  r.method = "GET";
  r.target = "/static/app/main.js?v=20261124";
  r.protocol = "HTTP/1.1";
  r.status = 200;
  r.bytes_sent = 32;
  r.referer = "https://www.example.com/";
  r.user_agent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
  r.upstream_addr = "10.0.0.5:8080";
  r.upstream_status = 200;
  r.request_time_s = 0.0042;
  r.request_id = "4f1c2b3a5d6e7f8091a2b3c4d5e6f708";
  std::string out;
  for (auto _ : state) {
    out.clear();
    weir::proxy::AccessLog::format(r, format, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(state.range(0) == 0 ? "combined" : "json");
}
BENCHMARK(BM_AccessLogLine)->Arg(0)->Arg(1);

}  // namespace
