// HttpParser: strict HTTP/1.1 parsing, one message at a time, with the status each rejection
// maps to.
#include "http/parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace weir::http {
namespace {

struct Recorder : HttpParser::Sink {
  std::vector<MessageHead> heads;
  std::string body;
  int completed = 0;
  bool reject = false;
  bool onHead(HttpParser& p) override {
    heads.push_back(p.head());
    return !reject;
  }
  void onBody(HttpParser&, const char* d, size_t n) override { body.append(d, n); }
  void onMessageComplete(HttpParser&) override { ++completed; }
};

struct Parsed {
  HttpParser::Status status;
  int error_status;
  std::string reason;
};

Parsed parseRequest(const std::string& bytes, Recorder& rec, ParseLimits limits = {}) {
  HttpParser parser(HttpParser::Mode::Request, &rec, limits);
  auto out = parser.execute(bytes.data(), bytes.size());
  return {out.status, parser.errorStatus(), parser.errorReason()};
}

int rejectStatus(const std::string& bytes, ParseLimits limits = {}) {
  Recorder rec;
  Parsed p = parseRequest(bytes, rec, limits);
  return p.status == HttpParser::Status::Error ? p.error_status : 0;
}

TEST(HttpParser, ParsesARequestHeadAndBody) {
  Recorder rec;
  Parsed p = parseRequest(
      "POST /a?b=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nX-Y:  v  \r\n\r\nabc",
      rec);
  ASSERT_EQ(p.status, HttpParser::Status::MessageComplete);
  ASSERT_EQ(rec.heads.size(), 1u);
  const MessageHead& h = rec.heads[0];
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.target, "/a?b=1");
  EXPECT_EQ(*h.find("host"), "example.com");
  EXPECT_EQ(*h.find("x-y"), "v");  // surrounding whitespace is not part of the value
  EXPECT_EQ(h.content_length, 3u);
  EXPECT_FALSE(h.chunked);
  EXPECT_EQ(rec.body, "abc");
}

TEST(HttpParser, DecodesChunkedBodies) {
  Recorder rec;
  Parsed p = parseRequest(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
      rec);
  ASSERT_EQ(p.status, HttpParser::Status::MessageComplete);
  EXPECT_TRUE(rec.heads[0].chunked);
  EXPECT_EQ(rec.body, "abcde");
}

TEST(HttpParser, PausesAfterEachPipelinedRequest) {
  Recorder rec;
  HttpParser parser(HttpParser::Mode::Request, &rec, {});
  std::string two = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
  auto first = parser.execute(two.data(), two.size());
  ASSERT_EQ(first.status, HttpParser::Status::MessageComplete);
  EXPECT_EQ(rec.heads.size(), 1u);
  parser.resume();
  auto second = parser.execute(two.data() + first.consumed, two.size() - first.consumed);
  ASSERT_EQ(second.status, HttpParser::Status::MessageComplete);
  ASSERT_EQ(rec.heads.size(), 2u);
  EXPECT_EQ(rec.heads[1].target, "/2");
}

// A parser writes each message's fields over the last one's (their memory is reused): a head
// shows only its own fields, with fewer or more than the one before, and so does a head still
// in progress.
TEST(HttpParser, EachHeadHasOnlyItsOwnFields) {
  Recorder rec;
  HttpParser parser(HttpParser::Mode::Request, &rec, {});
  auto names = [](const MessageHead& h) {
    std::string out;
    for (const auto& f : h.headers) out += f.name + "=" + f.value + ";";
    return out;
  };
  const std::vector<std::string> parts = {
      "GET /1 HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-B: 2\r\n\r\n",
      "GET /2 HTTP/1.1\r\nHost: b\r\n\r\n",
      "GET /3 HTTP/1.1\r\nHost: c\r\nX-C: 3\r\n",  // the head goes on in the next read
      "X-D: 4\r\nX-E: 5\r\n\r\n",
      "GET /4 HTTP/1.1\r\nHost: d\r\n\r\n",
  };
  for (const std::string& part : parts) {
    auto out = parser.execute(part.data(), part.size());
    if (out.status == HttpParser::Status::NeedMore) {
      EXPECT_EQ(names(parser.head()), "Host=c;X-C=3;");
      continue;
    }
    ASSERT_EQ(out.status, HttpParser::Status::MessageComplete);
    parser.resume();
  }
  ASSERT_EQ(rec.heads.size(), 4u);
  EXPECT_EQ(names(rec.heads[0]), "Host=a;X-A=1;X-B=2;");
  EXPECT_EQ(names(rec.heads[1]), "Host=b;");
  EXPECT_EQ(names(rec.heads[2]), "Host=c;X-C=3;X-D=4;X-E=5;");
  EXPECT_EQ(names(rec.heads[3]), "Host=d;");
}

TEST(HttpParser, AcceptsAHeadSplitAcrossReads) {
  Recorder rec;
  HttpParser parser(HttpParser::Mode::Request, &rec, {});
  std::string req = "GET /split HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";
  for (size_t i = 0; i < req.size(); ++i) {
    auto out = parser.execute(&req[i], 1);
    if (i + 1 < req.size())
      ASSERT_EQ(out.status, HttpParser::Status::NeedMore) << i;
    else
      EXPECT_EQ(out.status, HttpParser::Status::MessageComplete);
  }
  EXPECT_EQ(*rec.heads.at(0).find("accept"), "*/*");
}

TEST(HttpParser, RejectsSmugglingShapesWith400) {
  const char* cases[] = {
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3 3\r\n\r\nabc",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked, chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: "
      "chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
      "chunked\r\n\r\n",
      "GET / HTTP/1.1\nHost: a\n\n",
      "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
      "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
      "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
      "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
  };
  for (const char* c : cases) EXPECT_EQ(rejectStatus(c), 400) << c;
  std::string nul = "GET / HTTP/1.1\r\nHost: a\r\nX: a";
  nul.push_back('\0');
  nul += "b\r\n\r\n";
  EXPECT_EQ(rejectStatus(nul), 400);
}

// RFC 9112 6.1: codings weir does not decode before a final chunked: 501, not 400.
TEST(HttpParser, ChunkedAfterUnknownCodingsIs501) {
  EXPECT_EQ(rejectStatus("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            501);
  EXPECT_EQ(rejectStatus("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x-custom ,\tgzip, "
                         "CHUNKED\r\n\r\n"),
            501);
}

// The head checks run a line at a time; a line split between reads must be judged the same.
TEST(HttpParser, HeadChecksDoNotDependOnWhereReadsSplitTheBytes) {
  const ParseLimits limits{256, 64};
  const std::string cases[] = {
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\r\n",
      "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.1\nHost: a\n\n",
      "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n",
      "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /\tHTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(300, 'b') + "\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(180, 'b') + "\r\n\r\n",
  };
  for (const std::string& c : cases) {
    const int whole = rejectStatus(c, limits);
    for (size_t cut = 1; cut < c.size(); ++cut) {
      Recorder rec;
      HttpParser parser(HttpParser::Mode::Request, &rec, limits);
      auto out = parser.execute(c.data(), cut);
      if (out.status != HttpParser::Status::Error)
        out = parser.execute(c.data() + cut, c.size() - cut);
      const int split = out.status == HttpParser::Status::Error ? parser.errorStatus() : 0;
      ASSERT_EQ(split, whole) << "cut at " << cut << " of " << c;
    }
  }
  EXPECT_EQ(rejectStatus(cases[0], limits), 0);
  EXPECT_EQ(rejectStatus(cases[1], limits), 0);
  EXPECT_EQ(rejectStatus(cases[4], limits), 400);
  EXPECT_EQ(rejectStatus(cases[11], limits), 414);
  EXPECT_EQ(rejectStatus(cases[12], limits), 431);
  EXPECT_EQ(rejectStatus(cases[13], limits), 0);
}

TEST(HttpParser, RejectsOtherVersionsWith505) {
  EXPECT_EQ(rejectStatus("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(rejectStatus("GET / HTTP/3.1\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(rejectStatus("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(rejectStatus("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400);  // one digit each
  EXPECT_EQ(rejectStatus("GET / HTTP/1.x\r\nHost: a\r\n\r\n"), 400);
}

// RFC 9110, 2.5: HTTP/1.2 and up are handled as HTTP/1.1 (keep-alive by default, Host needed).
TEST(HttpParser, HandlesAHigherMinorVersionAsHttp11) {
  Recorder rec;
  HttpParser parser(HttpParser::Mode::Request, &rec, {});
  const std::string two = "GET /a HTTP/1.2\r\nHost: a\r\n\r\nGET /b HTTP/1.9\r\nHost: a\r\n\r\n";
  auto out = parser.execute(two.data(), two.size());
  ASSERT_EQ(out.status, HttpParser::Status::MessageComplete);
  ASSERT_EQ(rec.heads.size(), 1u);
  EXPECT_EQ(rec.heads[0].minor, 1);
  EXPECT_TRUE(rec.heads[0].keep_alive);
  EXPECT_EQ(rejectStatus("GET / HTTP/1.2\r\n\r\n"), 400);  // no Host
  Recorder response_rec;
  HttpParser response(HttpParser::Mode::Response, &response_rec, {});
  const std::string r = "HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok";
  EXPECT_EQ(response.execute(r.data(), r.size()).status, HttpParser::Status::MessageComplete);
  EXPECT_EQ(response_rec.body, "ok");
}

TEST(HttpParser, AcceptsHttp10WithoutHost) { EXPECT_EQ(rejectStatus("GET / HTTP/1.0\r\n\r\n"), 0); }

TEST(HttpParser, MapsSizeLimitsTo414And431) {
  ParseLimits limits{1024, 256};
  EXPECT_EQ(rejectStatus("GET /" + std::string(300, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", limits),
            414);
  EXPECT_EQ(rejectStatus("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(2000, 'b') + "\r\n\r\n",
                         limits),
            431);
  EXPECT_EQ(
      rejectStatus("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(900, 'b') + "\r\n\r\n", limits),
      0);
}

TEST(HttpParser, ResponseModeReportsUpgradeAfter101) {
  Recorder rec;
  HttpParser parser(HttpParser::Mode::Response, &rec, {});
  std::string resp =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nRAW";
  auto out = parser.execute(resp.data(), resp.size());
  ASSERT_EQ(out.status, HttpParser::Status::Upgrade);
  EXPECT_EQ(resp.substr(out.consumed), "RAW");
}

TEST(HttpParser, ResponseModeCompletesCloseDelimitedBodiesOnFinish) {
  Recorder rec;
  HttpParser parser(HttpParser::Mode::Response, &rec, {});
  std::string resp = "HTTP/1.1 200 OK\r\n\r\nhello";
  EXPECT_EQ(parser.execute(resp.data(), resp.size()).status, HttpParser::Status::NeedMore);
  EXPECT_TRUE(parser.needsEof());
  EXPECT_EQ(parser.finish().status, HttpParser::Status::MessageComplete);
  EXPECT_EQ(rec.body, "hello");
}

TEST(HttpParser, ResponseToHeadHasNoBody) {
  Recorder rec;
  HttpParser parser(HttpParser::Mode::Response, &rec, {});
  parser.expectNoBody(true);
  std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
  EXPECT_EQ(parser.execute(resp.data(), resp.size()).status, HttpParser::Status::MessageComplete);
  EXPECT_EQ(rec.body, "");
}

TEST(HttpParser, ResponseModeRejectsAmbiguousFramingWith502) {
  Recorder rec;
  HttpParser parser(HttpParser::Mode::Response, &rec, {});
  std::string resp =
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  EXPECT_EQ(parser.execute(resp.data(), resp.size()).status, HttpParser::Status::Error);
  EXPECT_EQ(parser.errorStatus(), 502);
}

TEST(HttpParser, SinkRejectionStopsParsing) {
  Recorder rec;
  rec.reject = true;
  Parsed p = parseRequest("GET / HTTP/1.1\r\nHost: a\r\n\r\n", rec);
  EXPECT_EQ(p.status, HttpParser::Status::Error);
}

}  // namespace
}  // namespace weir::http

namespace weir::http {
namespace {

TEST(HttpParser, RejectsInvalidHostValues) {
  const std::pair<const char*, int> cases[] = {
      {"a b", 400},      {"user@a", 400},           {"a/b", 400},         {"[::1", 400},
      {"[::1]x", 400},   {"a:99999", 400},          {"a:80:80", 400},     {"a:8x", 400},
      {"[::1]:8080", 0}, {"api.example.com:80", 0}, {"10.0.0.1:8080", 0},
  };
  for (const auto& [host, status] : cases)
    EXPECT_EQ(rejectStatus(std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n"), status)
        << host;
}

// The authority of an absolute-form target stands in for Host and gets the same checks.
TEST(HttpParser, ChecksTheAuthorityOfAbsoluteFormTargets) {
  EXPECT_EQ(rejectStatus("GET http://user@other.test/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(rejectStatus("GET http://other.test:99999/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(rejectStatus("GET HTTP://other.test:8080/x HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
  Recorder rec;
  parseRequest("GET http://other.test?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", rec);
  ASSERT_EQ(rec.heads.size(), 1u);
  EXPECT_EQ(rec.heads[0].target, "http://other.test/?x=1");
}

TEST(HttpParser, RejectsTransferEncodingInHttp10) {
  EXPECT_EQ(rejectStatus("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400);
}

}  // namespace
}  // namespace weir::http

namespace weir::http {
namespace {

// RFC 9110 9.1: a well-formed method weir does not know is 501; a method that is not a token
// is a malformed request line (400).
TEST(HttpParser, UnknownMethodsAre501AndMalformedOnes400) {
  const std::pair<const char*, int> cases[] = {
      {"FOO / HTTP/1.1", 501},         {"get / HTTP/1.1", 501},  // methods are case-sensitive
      {"\r\nBREW /pot HTTP/1.1", 501}, {"G(T / HTTP/1.1", 400}, {"GET/ HTTP/1.1", 400},
      {"HTTP/1.1 200 OK", 400},        {"NOT HTTP", 400},       {"FOO /", 400},
      {"PROPFIND /dav HTTP/1.1", 0},
  };
  for (const auto& [line, status] : cases)
    EXPECT_EQ(rejectStatus(std::string(line) + "\r\nHost: a\r\n\r\n"), status) << line;
}

TEST(HttpParser, RejectsFragmentsAndNonAsciiBytesInTheTarget) {
  EXPECT_EQ(rejectStatus("GET /admin#.png HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(rejectStatus("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(rejectStatus("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(rejectStatus("GET /caf%C3%A9?q=a|b&r=%23 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
}

TEST(HttpParser, ResponseStatusOutside100To599Is502) {
  for (const char* line : {"HTTP/1.1 20 OK", "HTTP/1.1 600 Odd", "HTTP/1.1 099 Low"}) {
    Recorder rec;
    HttpParser parser(HttpParser::Mode::Response, &rec, {});
    const std::string resp = std::string(line) + "\r\nContent-Length: 0\r\n\r\n";
    EXPECT_EQ(parser.execute(resp.data(), resp.size()).status, HttpParser::Status::Error) << line;
    EXPECT_EQ(parser.errorStatus(), 502) << line;
  }
  Recorder rec;
  HttpParser parser(HttpParser::Mode::Response, &rec, {});
  const std::string ok = "HTTP/1.1 599 Edge\r\nContent-Length: 0\r\n\r\n";
  EXPECT_EQ(parser.execute(ok.data(), ok.size()).status, HttpParser::Status::MessageComplete);
}

TEST(HttpParser, AnUpgradeToH2cIsNotAnUpgrade) {
  Recorder rec;
  parseRequest(
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
      "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
      rec);
  ASSERT_EQ(rec.heads.size(), 1u);
  EXPECT_FALSE(rec.heads[0].upgrade);
  // The request is complete as a plain one, and the next pipelined request parses after it.
  Recorder two;
  HttpParser parser(HttpParser::Mode::Request, &two, {});
  const std::string both =
      "GET /a HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
      "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
      "GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
  auto first = parser.execute(both.data(), both.size());
  ASSERT_EQ(first.status, HttpParser::Status::MessageComplete);
  parser.resume();
  auto second = parser.execute(both.data() + first.consumed, both.size() - first.consumed);
  EXPECT_EQ(second.status, HttpParser::Status::MessageComplete);
  ASSERT_EQ(two.heads.size(), 2u);
  EXPECT_EQ(two.heads[1].target, "/b");
  EXPECT_EQ(two.completed, 2);
  Recorder ws;
  parseRequest("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
               ws);
  ASSERT_EQ(ws.heads.size(), 1u);
  EXPECT_TRUE(ws.heads[0].upgrade);
}

TEST(NormalizeTargetPath, GivesOneSpellingOfEachPath) {
  struct Case {
    std::string target;
    PathCheck check;
    std::string after;
  };
  for (const Case& c : std::vector<Case>{
           {"/a/b?q=/../x", PathCheck::Unchanged, "/a/b?q=/../x"},
           {"/", PathCheck::Unchanged, "/"},
           {"*", PathCheck::Unchanged, "*"},
           {"/.well-known/x", PathCheck::Unchanged, "/.well-known/x"},
           {"/a%2Fb/%2e%2E%2f", PathCheck::Normalized, "/a%2Fb/..%2f"},  // "..%2f" is no ".."
           {"/%61dmin/%7Eu%2d", PathCheck::Normalized, "/admin/~u-"},
           {"//admin///x", PathCheck::Normalized, "/admin/x"},
           {"/x/../admin", PathCheck::Normalized, "/admin"},
           {"/a/./b/.", PathCheck::Normalized, "/a/b/"},
           {"/a/b/..?q", PathCheck::Normalized, "/a/?q"},
           {"/a/%2e%2E/b", PathCheck::Normalized, "/b"},
           {"/a/..", PathCheck::Normalized, "/"},
           {"//", PathCheck::Normalized, "/"},
           {"http://h.example//x/./y?%2e", PathCheck::Normalized, "http://h.example/x/y?%2e"},
           {"http://h.example", PathCheck::Unchanged, "http://h.example"},
           {"/..", PathCheck::AboveRoot, "/.."},
           {"/a/../../b", PathCheck::AboveRoot, "/a/../../b"},
           {"/%2e%2e/b", PathCheck::AboveRoot, "/%2e%2e/b"},
           {"/100%", PathCheck::BadPercent, "/100%"},
           {"/a%4", PathCheck::BadPercent, "/a%4"},
           {"/a%zz", PathCheck::BadPercent, "/a%zz"},
       }) {
    std::string target = c.target;
    EXPECT_EQ(normalizeTargetPath(target), c.check) << c.target;
    EXPECT_EQ(target, c.after) << c.target;
  }
}

TEST(HttpParser, NormalizesTheTargetPathOrRejectsItWith400) {
  Recorder rec;
  parseRequest("GET /x/..//%61dmin?a=%zz HTTP/1.1\r\nHost: a\r\n\r\n", rec);
  ASSERT_EQ(rec.heads.size(), 1u);
  EXPECT_EQ(rec.heads[0].target, "/admin?a=%zz");  // the query is not the path's business
  EXPECT_EQ(rejectStatus("GET /../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(rejectStatus("GET /50%off HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

TEST(SplitTarget, AbsoluteFormGivesAuthorityAndOriginForm) {
  struct Case {
    std::string_view target;
    bool absolute;
    std::string_view authority, origin;
  };
  for (const Case& c : std::vector<Case>{
           {"/a/b?q=1", false, "", "/a/b?q=1"},
           {"*", false, "", "*"},
           {"http://h.example/a?q", true, "h.example", "/a?q"},
           {"HTTPS://h.example:8443", true, "h.example:8443", "/"},
           {"http://[::1]:80?q", true, "[::1]:80", "?q"},
           {"http://", true, "", "/"},
           {"ftp://h.example/", false, "", "ftp://h.example/"},
       }) {
    const TargetParts parts = splitTarget(c.target);
    EXPECT_EQ(parts.absolute, c.absolute) << c.target;
    EXPECT_EQ(parts.authority, c.authority) << c.target;
    EXPECT_EQ(parts.origin, c.origin) << c.target;
  }
}

}  // namespace
}  // namespace weir::http
