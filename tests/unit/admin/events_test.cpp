// Server-sent events: the text/event-stream framing of a sample, and streaming responses of the
// admin session driven over real sockets: the head, events as they are broadcast, followers
// that leave or read too slowly dropped, the cap on followers, and a loop that still closes
// cleanly with streams open. Also the rule that lets the dashboard's own buttons (and no other
// page) change state.
#include "admin/events.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin_api.h"
#include "admin/admin_server.h"
#include "admin/history.h"

namespace weir::admin {
namespace {

// Reads an event stream back: the data lines of each event joined by '\n' (the HTML standard's
// "dispatch the event" step), and the last id seen.
struct ParsedEvent {
  std::string data;
  std::string id;
};

std::vector<ParsedEvent> parseStream(const std::string& text) {
  std::vector<ParsedEvent> events;
  ParsedEvent current;
  bool has_data = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) break;  // an incomplete line is not dispatched
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) {
      if (has_data) events.push_back(current);
      current = ParsedEvent{};
      has_data = false;
      continue;
    }
    const size_t colon = line.find(':');
    std::string field = line.substr(0, colon);
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    if (field == "data") {
      if (has_data) current.data += '\n';
      current.data += value;
      has_data = true;
    } else if (field == "id") {
      current.id = value;
    }
  }
  return events;
}

// ---------------------------------------------------------------------------------------------
// Framing

TEST(SseFrame, OneLineOfDataThenABlankLine) {
  EXPECT_EQ(sseFrame("{\"a\":1}"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(sseFrame(""), "data: \n\n");
}

TEST(SseFrame, IdComesFirst) {
  EXPECT_EQ(sseFrame("x", 1714560000123), "id: 1714560000123\ndata: x\n\n");
}

TEST(SseFrame, SplitsEveryKindOfLineEnd) {
  EXPECT_EQ(sseFrame("a\nb\r\nc\rd"), "data: a\ndata: b\ndata: c\ndata: d\n\n");
  EXPECT_EQ(sseFrame("end\n"), "data: end\ndata: \n\n");
  auto events = parseStream(sseFrame("a\nb\r\nc"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "a\nb\nc");
}

TEST(SseFrame, RetryIsItsOwnBlock) { EXPECT_EQ(sseRetry(2000), "retry: 2000\n\n"); }

TEST(SseFrame, ASampleSurvivesTheRoundTrip) {
  server::StatsReport before, after;
  server::UpstreamReport u;
  u.name = "web\nline";  // a newline in a name stays escaped inside the JSON
  server::ServerReport s;
  s.address = "127.0.0.1:9001";
  s.state = "enabled";
  u.servers.push_back(s);
  before.upstreams.push_back(u);
  after = before;
  after.totals.traffic.requests = 9;
  after.upstreams[0].servers[0].traffic.requests = 9;
  SampleBuilder builder;
  Sample sample;
  auto health = [](const std::string&, const std::string&) { return std::string("healthy"); };
  builder.next(before, 1'000, 1, nullptr, health, sample);
  ASSERT_TRUE(builder.next(after, 2'000, 1, nullptr, health, sample));

  const std::string json = sampleJson(sample).dump();
  const std::string frame = sseFrame(json, sample.at_unix_ms);
  EXPECT_EQ(frame.rfind("id: 2000\ndata: {", 0), 0u) << frame;
  EXPECT_EQ(frame.substr(frame.size() - 3), "}\n\n");
  EXPECT_EQ(std::count(frame.begin(), frame.end(), '\n'), 3);  // id, data, blank line
  auto events = parseStream(frame);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].id, "2000");
  auto parsed = nlohmann::json::parse(events[0].data);
  EXPECT_EQ(parsed["requests"], 9);
  EXPECT_EQ(parsed["upstreams"][0]["name"], "web\nline");
  EXPECT_EQ(parsed["upstreams"][0]["servers"][0]["state"], "healthy");
}

// ---------------------------------------------------------------------------------------------
// Streaming over a real connection

// A loop on its own thread serving /events as a stream into `streams` (503 when full), and /now
// as a plain answer.
class StreamLoop {
 public:
  StreamLoop() {
    std::promise<uint16_t> port;
    auto ready = port.get_future();
    thread_ = std::thread([this, &port] {
      net::EventLoop loop;
      loop_ = &loop;
      auto server = AdminServer::listen(loop, config::HostPort{"127.0.0.1", 0, "127.0.0.1:0"},
                                        [this](AdminRequest r, Reply reply) { handle(r, reply); });
      if (!server) {
        port.set_value(0);
        loop.closeInternalHandles();
        loop.run();
        return;
      }
      server_ = server->get();
      port.set_value(server_->address().port());
      rc_ = loop.run();
      server_ = nullptr;
    });
    port_ = ready.get();
  }
  ~StreamLoop() { stop(); }

  uint16_t port() const { return port_; }

  template <typename Fn>
  auto onLoop(Fn fn) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    loop_->post([&task] { task(); });
    return result.get();
  }

  size_t followers() {
    return onLoop([this] { return streams_.size(); });
  }
  size_t broadcast(const std::string& frame) {
    return onLoop([this, frame] { return streams_.broadcast(frame); });
  }
  /// Waits until `n` clients follow the stream.
  bool waitFollowers(size_t n) {
    for (int i = 0; i < 400; ++i) {
      if (followers() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  int stop() {
    if (!thread_.joinable()) return rc_;
    loop_->post([this] {
      if (server_) server_->close();
      streams_.closeAll();
      loop_->closeInternalHandles();
    });
    thread_.join();
    return rc_;
  }

 private:
  void handle(const AdminRequest& r, const Reply& reply) {
    if (r.head.target == "/events") {
      if (streams_.full()) {
        reply(AdminResponse{503, "application/json", "{}", {}});
        return;
      }
      AdminResponse response{200, "text/event-stream", sseRetry(2000), {}};
      response.on_stream = [this](StreamWriter w) { streams_.add(std::move(w)); };
      reply(std::move(response));
      return;
    }
    reply(AdminResponse{200, "text/plain", "now", {}});
  }

  std::thread thread_;
  net::EventLoop* loop_ = nullptr;
  AdminServer* server_ = nullptr;
  EventStreams streams_;
  uint16_t port_ = 0;
  int rc_ = -1;
};

class StreamClient {
 public:
  explicit StreamClient(uint16_t port, int rcvbuf = 0) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{3, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~StreamClient() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void send(const std::string& bytes) {
    EXPECT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  /// Reads until `text` has arrived (or the connection ends or times out).
  bool readUntil(const std::string& text) {
    while (received_.find(text) == std::string::npos)
      if (!fill()) return false;
    return true;
  }
  /// True when the server closed the connection (everything it sent is in received()).
  bool closedByPeer() {
    while (fill()) {
    }
    return eof_;
  }
  const std::string& received() const { return received_; }

 private:
  bool fill() {
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n == 0) eof_ = true;
    if (n <= 0) return false;
    received_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  int fd_;
  bool eof_ = false;
  std::string received_;
};

const std::string kEventsRequest = "GET /events HTTP/1.1\r\nHost: admin\r\n\r\n";

TEST(EventStream, SendsTheHeadThenEachEventAsItIsBroadcast) {
  StreamLoop loop;
  StreamClient c(loop.port());
  c.send(kEventsRequest);
  ASSERT_TRUE(c.readUntil("retry: 2000\n\n"));
  const std::string& text = c.received();
  const std::string head = text.substr(0, text.find("\r\n\r\n") + 4);
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(head.find("Content-Type: text/event-stream\r\n"), std::string::npos);
  EXPECT_NE(head.find("Cache-Control: no-store\r\n"), std::string::npos);
  EXPECT_NE(head.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);  // the body ends with the stream

  ASSERT_TRUE(loop.waitFollowers(1));
  EXPECT_EQ(loop.broadcast(sseFrame("{\"n\":1}", 1)), 1u);
  EXPECT_EQ(loop.broadcast(sseFrame("{\"n\":2}", 2)), 1u);
  ASSERT_TRUE(c.readUntil("data: {\"n\":2}\n\n"));
  auto events = parseStream(c.received().substr(head.size()));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "{\"n\":1}");
  EXPECT_EQ(events[1].id, "2");
}

TEST(EventStream, DropsAFollowerThatLeft) {
  StreamLoop loop;
  StreamClient stays(loop.port());
  stays.send(kEventsRequest);
  {
    StreamClient leaves(loop.port());
    leaves.send(kEventsRequest);
    ASSERT_TRUE(loop.waitFollowers(2));
  }
  ASSERT_TRUE(loop.waitFollowers(1));  // its EOF closed the session
  EXPECT_EQ(loop.broadcast(sseFrame("x")), 1u);
  EXPECT_TRUE(stays.readUntil("data: x\n\n"));
}

TEST(EventStream, DisconnectsAFollowerThatReadsTooSlowly) {
  StreamLoop loop;
  StreamClient slow(loop.port(), /*rcvbuf=*/4096);
  slow.send(kEventsRequest);
  ASSERT_TRUE(loop.waitFollowers(1));
  const std::string big = sseFrame(std::string(64 * 1024, 'z'));
  size_t left = 1;
  for (int i = 0; i < 256 && left > 0; ++i) left = loop.broadcast(big);  // up to 16 MiB
  EXPECT_EQ(left, 0u);
  EXPECT_TRUE(slow.closedByPeer());
}

TEST(EventStream, RefusesFollowersBeyondTheCap) {
  StreamLoop loop;
  std::vector<std::unique_ptr<StreamClient>> clients;
  for (size_t i = 0; i < EventStreams::kMaxClients; ++i) {
    clients.push_back(std::make_unique<StreamClient>(loop.port()));
    clients.back()->send(kEventsRequest);
  }
  ASSERT_TRUE(loop.waitFollowers(EventStreams::kMaxClients));
  StreamClient extra(loop.port());
  extra.send(kEventsRequest);
  ASSERT_TRUE(extra.readUntil("\r\n\r\n"));
  EXPECT_EQ(extra.received().rfind("HTTP/1.1 503", 0), 0u);
  // One leaves: a place is free again.
  clients.pop_back();
  ASSERT_TRUE(loop.waitFollowers(EventStreams::kMaxClients - 1));
  StreamClient next(loop.port());
  next.send(kEventsRequest);
  EXPECT_TRUE(next.readUntil("retry: 2000\n\n"));
}

TEST(EventStream, IgnoresWhatTheFollowerSends) {
  StreamLoop loop;
  StreamClient c(loop.port());
  c.send(kEventsRequest);
  ASSERT_TRUE(loop.waitFollowers(1));
  c.send("GET /now HTTP/1.1\r\nHost: admin\r\n\r\n");  // no second exchange on a stream
  EXPECT_EQ(loop.broadcast(sseFrame("still")), 1u);
  ASSERT_TRUE(c.readUntil("data: still\n\n"));
  EXPECT_EQ(c.received().find("now"), std::string::npos);
}

TEST(EventStream, HeadRequestGetsTheHeadOnly) {
  StreamLoop loop;
  StreamClient c(loop.port());
  c.send("HEAD /events HTTP/1.1\r\nHost: admin\r\n\r\n");
  ASSERT_TRUE(c.readUntil("\r\n\r\n"));
  EXPECT_NE(c.received().find("Content-Length: 13\r\n"), std::string::npos);  // "retry: 2000\n\n"
  EXPECT_EQ(loop.followers(), 0u);
}

TEST(EventStream, LoopEndsCleanlyWithStreamsOpen) {
  StreamLoop loop;
  StreamClient a(loop.port()), b(loop.port());
  a.send(kEventsRequest);
  b.send(kEventsRequest);
  ASSERT_TRUE(loop.waitFollowers(2));
  EXPECT_EQ(loop.stop(), 0);  // uv_loop_close() == 0
  EXPECT_TRUE(a.closedByPeer());
  EXPECT_TRUE(b.closedByPeer());
}

// ---------------------------------------------------------------------------------------------
// Browser requests that may change state: the dashboard's own

AdminRequest browserPost(std::string origin, std::string host, std::string site = "") {
  AdminRequest r;
  r.head.method = "POST";
  r.head.target = "/upstreams/web/servers/a/drain";
  r.head.headers.push_back({"Origin", std::move(origin)});
  r.head.headers.push_back({"Host", std::move(host)});
  if (!site.empty()) r.head.headers.push_back({"Sec-Fetch-Site", std::move(site)});
  return r;
}

TEST(DashboardOrigin, SameOriginOnLoopbackPasses) {
  EXPECT_TRUE(dashboardOrigin(browserPost("http://127.0.0.1:9901", "127.0.0.1:9901"), false));
  EXPECT_TRUE(dashboardOrigin(browserPost("http://127.0.0.1:9901", "127.0.0.1:9901", "same-origin"),
                              false));
  EXPECT_TRUE(dashboardOrigin(browserPost("http://localhost:9901", "localhost:9901"), false));
  EXPECT_TRUE(dashboardOrigin(browserPost("http://[::1]:9901", "[::1]:9901"), false));
  EXPECT_TRUE(dashboardOrigin(browserPost("http://127.0.0.2:80", "127.0.0.2:80"), false));
}

TEST(DashboardOrigin, OtherPagesFail) {
  EXPECT_FALSE(dashboardOrigin(browserPost("http://evil.example", "127.0.0.1:9901"), true));
  EXPECT_FALSE(dashboardOrigin(browserPost("http://127.0.0.1:9902", "127.0.0.1:9901"), true));
  EXPECT_FALSE(dashboardOrigin(browserPost("https://127.0.0.1:9901", "127.0.0.1:9901"), true));
  EXPECT_FALSE(dashboardOrigin(browserPost("null", "127.0.0.1:9901"), true));
  EXPECT_FALSE(
      dashboardOrigin(browserPost("http://127.0.0.1:9901", "127.0.0.1:9901", "cross-site"), true));
  EXPECT_FALSE(
      dashboardOrigin(browserPost("http://127.0.0.1:9901", "127.0.0.1:9901", "same-site"), true));
  AdminRequest no_host = browserPost("http://127.0.0.1:9901", "");
  EXPECT_FALSE(dashboardOrigin(no_host, true));
}

TEST(DashboardOrigin, ANameOtherThanLocalhostNeedsAToken) {
  // DNS rebinding: evil.example resolves to 127.0.0.1, so Origin and Host agree.
  const AdminRequest rebound = browserPost("http://evil.example:9901", "evil.example:9901");
  EXPECT_FALSE(dashboardOrigin(rebound, /*token_required=*/false));
  EXPECT_TRUE(dashboardOrigin(rebound, /*token_required=*/true));  // then the token decides
  EXPECT_FALSE(
      dashboardOrigin(browserPost("http://127.evil.example:1", "127.evil.example:1"), false));
  EXPECT_FALSE(dashboardOrigin(browserPost("http://10.0.0.5:9901", "10.0.0.5:9901"), false));
}

}  // namespace
}  // namespace weir::admin
