// Header rewriting between client and upstream.
#include "http/proxy_headers.h"

#include <gtest/gtest.h>

namespace weir::http {
namespace {

MessageHead request(std::vector<HeaderField> headers) {
  MessageHead h;
  h.method = "GET";
  h.target = "/x";
  h.headers = std::move(headers);
  return h;
}

std::string upstreamHead(const MessageHead& h, Framing framing = Framing::None,
                         const HeaderEdits* edits = nullptr) {
  ForwardInfo info;
  info.client_ip = "10.0.0.9";
  info.request_id = "rid";
  info.target = h.target;
  info.edits = edits;
  std::string out;
  writeUpstreamRequest(h, info, framing, out);
  return out;
}

TEST(ProxyHeaders, DropsHopByHopFieldsAndThoseConnectionNames) {
  auto h = request({{"Host", "a"},
                    {"Connection", "keep-alive, X-Secret"},
                    {"X-Secret", "1"},
                    {"Keep-Alive", "timeout=5"},
                    {"Proxy-Connection", "x"},
                    {"TE", "trailers"},
                    {"Trailer", "X"},
                    {"Upgrade", "websocket"},
                    {"Accept", "*/*"}});
  std::string out = upstreamHead(h);
  EXPECT_EQ(out.find("X-Secret"), std::string::npos);
  EXPECT_EQ(out.find("Keep-Alive"), std::string::npos);
  EXPECT_EQ(out.find("Proxy-Connection"), std::string::npos);
  EXPECT_EQ(out.find("TE:"), std::string::npos);
  EXPECT_EQ(out.find("Trailer"), std::string::npos);
  EXPECT_EQ(out.find("Upgrade"), std::string::npos);
  EXPECT_EQ(out.find("Connection"), std::string::npos);
  EXPECT_NE(out.find("Accept: */*\r\n"), std::string::npos);
  EXPECT_EQ(out.rfind("GET /x HTTP/1.1\r\nHost: a\r\n", 0), 0u);
}

// Every Connection field counts, whatever the order of its items; "close" and "keep-alive"
// alone name no field.
TEST(ProxyHeaders, FieldsNamedByAnyConnectionFieldAreDropped) {
  auto h = request({{"Host", "a"},
                    {"Connection", "close"},
                    {"X-One", "1"},
                    {"Connection", "keep-alive,\tX-Two , close"},
                    {"X-Two", "2"},
                    {"X-Three", "3"}});
  std::string out = upstreamHead(h);
  EXPECT_EQ(out.find("X-Two"), std::string::npos);
  EXPECT_NE(out.find("X-One: 1\r\n"), std::string::npos);
  EXPECT_NE(out.find("X-Three: 3\r\n"), std::string::npos);
  // Host stays, named or not: the request upstream must have one.
  out = upstreamHead(request({{"Host", "a"}, {"Connection", "Host, X-Secret"}, {"X-Secret", "1"}}));
  EXPECT_EQ(out.rfind("GET /x HTTP/1.1\r\nHost: a\r\n", 0), 0u);
  EXPECT_EQ(out.find("X-Secret"), std::string::npos);

  MessageHead resp;
  resp.status = 200;
  resp.headers = {{"Connection", "keep-alive"}, {"Keep-Alive", "timeout=5"}, {"X-Kept", "k"}};
  std::string client;
  writeClientResponse(resp, Framing::None, true, false, client, nullptr);
  EXPECT_NE(client.find("X-Kept: k\r\n"), std::string::npos);
  EXPECT_EQ(client.find("Keep-Alive"), std::string::npos);
  EXPECT_EQ(client.find("Connection"), std::string::npos);
}

TEST(ProxyHeaders, AppendsXForwardedForAndSetsProtoHostViaRequestId) {
  auto h = request({{"Host", "site.example"},
                    {"X-Forwarded-For", "1.1.1.1"},
                    {"X-Forwarded-For", "2.2.2.2"},
                    {"X-Forwarded-Proto", "spoofed"},
                    {"Via", "1.1 edge"}});
  std::string out = upstreamHead(h);
  EXPECT_NE(out.find("X-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.0.0.9\r\n"), std::string::npos);
  EXPECT_NE(out.find("X-Forwarded-Proto: http\r\n"), std::string::npos);
  EXPECT_EQ(out.find("spoofed"), std::string::npos);
  EXPECT_NE(out.find("X-Forwarded-Host: site.example\r\n"), std::string::npos);
  EXPECT_NE(out.find("Via: 1.1 edge, 1.1 weir\r\n"), std::string::npos);
  EXPECT_NE(out.find("X-Request-Id: rid\r\n"), std::string::npos);
}

// A backend that reads fields through CGI-style names (HTTP_X_FORWARDED_FOR) sees X_Forwarded_For
// and X-Forwarded-For as one: the underscore spelling of a field weir writes itself, frames or
// drops never reaches it. Other names with '_' pass, and responses keep them.
TEST(ProxyHeaders, UnderscoreSpellingsOfFieldsWeirHandlesAreDropped) {
  EXPECT_EQ(headerId("X_Forwarded_For"), HeaderId::Underscored);
  EXPECT_EQ(headerId("x-forwarded_proto"), HeaderId::Underscored);
  EXPECT_EQ(headerId("Transfer_Encoding"), HeaderId::Underscored);
  EXPECT_EQ(headerId("X-Forwarded-For"), HeaderId::XForwardedFor);
  EXPECT_EQ(headerId("X_Custom_Key"), HeaderId::Other);
  EXPECT_EQ(headerId("X-Forwarded.For"), HeaderId::Other);
  auto h = request({{"Host", "site.example"},
                    {"X_Forwarded_For", "6.6.6.6"},
                    {"X-Forwarded_Host", "evil.example"},
                    {"X_REQUEST_ID", "forged"},
                    {"Content_Length", "5"},
                    {"Keep_Alive", "1"},
                    {"X_Custom_Key", "kept"}});
  std::string out = upstreamHead(h);
  EXPECT_EQ(out,
            "GET /x HTTP/1.1\r\nHost: site.example\r\nX_Custom_Key: kept\r\n"
            "X-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: site.example\r\nVia: 1.1 weir\r\nX-Request-Id: rid\r\n\r\n");
  EXPECT_EQ(h.find("X_Forwarded_For"), &h.headers[1].value);  // looked up by its own name
  EXPECT_EQ(h.find("X-Forwarded-For"), nullptr);

  MessageHead r;
  r.status = 200;
  r.headers = {{"X_Forwarded_For", "x"}};
  std::string resp;
  writeClientResponse(r, Framing::None, true, false, resp);
  EXPECT_NE(resp.find("X_Forwarded_For: x\r\n"), std::string::npos);
}

// A field a route removes or sets goes in either spelling: with `remove: [X-Api-Key]` or
// `set: {X-User: ...}`, a client's X_Api_Key or X_User cannot stand in for it.
TEST(ProxyHeaders, RouteEditsDropUnderscoreSpellingsToo) {
  HeaderEdits edits;
  edits.remove = {"X-Api-Key"};
  edits.set = {{"X-User", "alice"}};
  EXPECT_TRUE(edits.drops("x_api_key"));
  EXPECT_TRUE(edits.drops("X_User"));
  EXPECT_FALSE(edits.drops("X-Api-Keys"));
  EXPECT_TRUE(sameFieldName("X_Api-Key", "x-api_key"));
  EXPECT_FALSE(sameFieldName("X.Api-Key", "x-api-key"));
  const std::string out =
      upstreamHead(request({{"Host", "a"}, {"X_Api_Key", "secret"}, {"X_User", "mallory"}}),
                   Framing::None, &edits);
  EXPECT_EQ(out.find("secret"), std::string::npos);
  EXPECT_EQ(out.find("mallory"), std::string::npos);
  EXPECT_NE(out.find("X-User: alice\r\n"), std::string::npos);
}

// The writers make room for a head up front from its fields; what weir adds beyond that guess
// (here X-Forwarded-Host repeats a long Host) grows the output without losing a byte, and
// whatever the output held before stays in front.
TEST(ProxyHeaders, HeadsLongerThanTheirFirstGuessAreWrittenWhole) {
  const std::string host(5000, 'h');
  const std::string via(3000, 'v');
  auto h = request({{"Host", host}, {"Via", via}});
  ForwardInfo info;
  info.client_ip = "10.0.0.9";
  info.request_id = "rid";
  info.target = h.target;
  std::string out = "earlier bytes|";
  writeUpstreamRequest(h, info, Framing::None, out);
  EXPECT_EQ(out, "earlier bytes|GET /x HTTP/1.1\r\nHost: " + host +
                     "\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n"
                     "X-Forwarded-Host: " +
                     host + "\r\nVia: " + via + ", 1.1 weir\r\nX-Request-Id: rid\r\n\r\n");
  MessageHead r;
  r.status = 200;
  r.reason = std::string(4000, 'r');
  r.headers = {{"Via", via}};
  std::string resp;
  writeClientResponse(r, Framing::None, true, false, resp);
  EXPECT_EQ(resp, "HTTP/1.1 200 " + r.reason + "\r\nVia: " + via + ", 1.1 weir\r\n\r\n");
}

TEST(ProxyHeaders, KeepsAnIncomingRequestId) {
  std::string out = upstreamHead(request({{"Host", "a"}, {"X-Request-Id", "abc"}}));
  EXPECT_NE(out.find("X-Request-Id: abc\r\n"), std::string::npos);
  EXPECT_EQ(out.find("X-Request-Id: rid"), std::string::npos);
}

TEST(ProxyHeaders, WritesFramingAnew) {
  auto h = request({{"Host", "a"}, {"Transfer-Encoding", "chunked"}});
  std::string chunked = upstreamHead(h, Framing::Chunked);
  EXPECT_NE(chunked.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  auto l = request({{"Host", "a"}, {"Content-Length", "5"}});
  l.content_length = 5;
  std::string length = upstreamHead(l, Framing::Length);
  EXPECT_NE(length.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_EQ(length.find("Content-Length", length.find("Content-Length") + 1), std::string::npos);
}

TEST(ProxyHeaders, KeepsUpgradeForTunnels) {
  auto h = request({{"Host", "a"}, {"Connection", "Upgrade"}, {"Upgrade", "websocket"}});
  h.upgrade = true;
  std::string out = upstreamHead(h);
  EXPECT_NE(out.find("Upgrade: websocket\r\nConnection: upgrade\r\n"), std::string::npos);
}

TEST(ProxyHeaders, ResponseHeadGetsClientFramingAndPersistence) {
  MessageHead r;
  r.status = 200;
  r.reason = "OK";
  r.headers = {{"Content-Type", "text/plain"},
               {"Transfer-Encoding", "chunked"},
               {"Connection", "close"},
               {"Keep-Alive", "x"}};
  std::string out;
  writeClientResponse(r, Framing::Chunked, true, false, out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nVia: 1.1 weir\r\n"
            "Transfer-Encoding: chunked\r\n\r\n");
  std::string closing;
  writeClientResponse(r, Framing::Close, false, true, closing);
  EXPECT_NE(closing.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(closing.find("Transfer-Encoding"), std::string::npos);
  EXPECT_EQ(closing.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);  // to an HTTP/1.0 client too
}

// RFC 9110 8.6: no Content-Length in a 1xx or 204; a 304 or a response to HEAD keeps its own.
TEST(ProxyHeaders, DropsContentLengthFrom204And1xxOnly) {
  for (int status : {100, 103, 204, 304}) {
    MessageHead r;
    r.status = status;
    r.headers = {{"Content-Length", "5"}};
    std::string out;
    writeClientResponse(r, Framing::None, true, false, out);
    EXPECT_EQ(out.find("Content-Length") != std::string::npos, status == 304) << status;
  }
}

// RFC 9110 7.6.2: Max-Forwards counts down on OPTIONS and TRACE only; a value weir cannot read
// (not 1*DIGIT, or repeated) is left as it came, as are other methods' values.
TEST(ProxyHeaders, MaxForwardsOfOptionsAndTraceIsReadAndCountedDown) {
  auto h = request({{"Host", "a"}, {"max-forwards", "5"}});
  EXPECT_EQ(h.headers[1].id, HeaderId::MaxForwards);
  EXPECT_EQ(maxForwards(h), std::nullopt);  // GET
  EXPECT_NE(upstreamHead(h).find("\r\nmax-forwards: 5\r\n"), std::string::npos);
  for (const char* method : {"OPTIONS", "TRACE"}) {
    h.method = method;
    EXPECT_EQ(maxForwards(h), 5u) << method;
    const std::string out = upstreamHead(h);
    EXPECT_NE(out.find("\r\nMax-Forwards: 4\r\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("max-forwards"), std::string::npos) << out;
  }
  h.headers[1].value = "0";
  EXPECT_EQ(maxForwards(h), 0u);
  h.headers[1].value = "99999999999999999999999";  // saturates
  EXPECT_EQ(maxForwards(h), 0xffffffffu);
  EXPECT_NE(upstreamHead(h).find("Max-Forwards: 4294967294\r\n"), std::string::npos);
  for (const char* bad : {"", "1x", "-1", "+1", "1 2"}) {
    h.headers[1].value = bad;
    EXPECT_EQ(maxForwards(h), std::nullopt) << bad;
    EXPECT_NE(upstreamHead(h).find(std::string("\r\nmax-forwards: ") + bad + "\r\n"),
              std::string::npos)
        << bad;
  }
  h.headers[1].value = "3";
  h.headers.push_back({"Max-Forwards", "7"});
  EXPECT_EQ(maxForwards(h), std::nullopt);  // repeated: which one?
  h.headers.pop_back();
  h.headers.erase(h.headers.begin() + 1);
  EXPECT_EQ(maxForwards(h), std::nullopt);  // absent
}

TEST(ProxyHeaders, TraceEchoIsTheRequestHeadWithoutCredentials) {
  auto h = request({{"Host", "a"},
                    {"Authorization", "Basic eDp5"},
                    {"X-Trace", "1"},
                    {"cookie", "s=1"},
                    {"Proxy-Authorization", "Basic eDp5"}});
  h.method = "TRACE";
  EXPECT_EQ(traceEcho(h), "TRACE /x HTTP/1.1\r\nHost: a\r\nX-Trace: 1\r\n\r\n");
  h.minor = 0;
  EXPECT_EQ(traceEcho(h).rfind("TRACE /x HTTP/1.0\r\n", 0), 0u);
}

TEST(ProxyHeaders, EncodesChunks) {
  std::string out;
  appendChunk(out, "hello world, this is 26 b.", 26);
  EXPECT_EQ(out, "1a\r\nhello world, this is 26 b.\r\n");
  appendChunk(out, "", 0);
  EXPECT_EQ(out.size(), 32u);  // an empty chunk would end the body: nothing is written
}

}  // namespace
}  // namespace weir::http
