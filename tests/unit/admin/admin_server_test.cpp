// AdminServer and its sessions, driven over real sockets on a loop of their own with a scripted
// handler: keep-alive and pipelining, answers given later, answers given after the client left,
// body limits, and a loop that closes cleanly with connections still open.
#include "admin/admin_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin_api.h"

namespace weir::admin {
namespace {

// A loop on its own thread serving an AdminServer on 127.0.0.1:<any port>.
//   /now       answers at once with the request body
//   /later     answers from a deferred callback
//   /held      keeps the Reply; the test fires it with releaseHeld()
class AdminLoop {
 public:
  AdminLoop() {
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
  ~AdminLoop() { stop(); }

  uint16_t port() const { return port_; }

  /// Runs `fn` on the loop thread and waits for it.
  template <typename Fn>
  auto onLoop(Fn fn) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    loop_->post([&task] { task(); });
    return result.get();
  }

  size_t sessions() {
    return onLoop([this] { return server_->sessionCount(); });
  }
  size_t held() {
    return onLoop([this] { return held_.size(); });
  }
  void releaseHeld() {
    onLoop([this] {
      for (auto& reply : held_) reply(AdminResponse{200, "text/plain", "late\n", {}});
      held_.clear();
      return 0;
    });
  }

  /// Closes the server and the loop's own handles; the loop must then end with nothing open.
  int stop() {
    if (!thread_.joinable()) return rc_;
    loop_->post([this] {
      if (server_) server_->close();
      // Their sessions are gone: these answers must go nowhere (and touch nothing freed).
      for (auto& reply : held_) reply(AdminResponse{200, "text/plain", "too late\n", {}});
      held_.clear();
      loop_->closeInternalHandles();
    });
    thread_.join();
    return rc_;
  }

 private:
  void handle(const AdminRequest& r, const Reply& reply) {
    const std::string& target = r.head.target;
    if (target == "/now") {
      reply(AdminResponse{200, "text/plain", r.head.method + " " + r.body, {}});
    } else if (target == "/later") {
      loop_->defer([reply, body = r.body] { reply(AdminResponse{202, "text/plain", body, {}}); });
    } else if (target == "/held") {
      held_.push_back(reply);
    } else {
      reply(AdminResponse{404, "text/plain", "", {}});
    }
  }

  std::thread thread_;
  net::EventLoop* loop_ = nullptr;
  AdminServer* server_ = nullptr;
  std::vector<Reply> held_;
  uint16_t port_ = 0;
  int rc_ = -1;
};

class Client {
 public:
  explicit Client(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{3, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~Client() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void send(const std::string& bytes) {
    EXPECT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  /// Closes with a reset (SO_LINGER 0): the server sees an error, not a half-close.
  void reset() {
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }

  struct Response {
    int status = 0;
    std::string head;
    std::string body;
  };
  /// Reads one response (Content-Length framed; `head_only` for answers to HEAD).
  Response read(bool head_only = false) {
    Response r;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return r;
    r.head = buffer_.substr(0, end + 4);
    buffer_.erase(0, end + 4);
    r.status = std::stoi(r.head.substr(9, 3));
    size_t length = 0;
    if (auto p = r.head.find("Content-Length: "); p != std::string::npos)
      length = std::stoul(r.head.substr(p + 16));
    if (head_only || r.status == 100) length = 0;
    while (buffer_.size() < length)
      if (!fill()) return r;
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }
  /// True when the server closed the connection (after everything it sent was read).
  bool closedByPeer() { return buffer_.empty() && !fill(); }

 private:
  bool fill() {
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  int fd_;
  std::string buffer_;
};

std::string get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: admin\r\n" + extra + "\r\n";
}

std::string post(const std::string& target, const std::string& body,
                 const std::string& extra = "") {
  return "POST " + target +
         " HTTP/1.1\r\nHost: admin\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         extra + "\r\n" + body;
}

TEST(AdminServer, AnswersPipelinedRequestsInOrderOnOneConnection) {
  AdminLoop admin;
  Client c(admin.port());
  c.send(post("/later", "one") + get("/now") + post("/later", "three") + get("/missing"));
  auto r1 = c.read(), r2 = c.read(), r3 = c.read(), r4 = c.read();
  EXPECT_EQ(r1.status, 202);
  EXPECT_EQ(r1.body, "one");
  EXPECT_EQ(r2.status, 200);
  EXPECT_EQ(r2.body, "GET ");
  EXPECT_EQ(r3.body, "three");
  EXPECT_EQ(r4.status, 404);
  for (const auto* r : {&r1, &r2, &r3, &r4}) {
    EXPECT_NE(r->head.find("\r\nDate: "), std::string::npos);
    EXPECT_NE(r->head.find("\r\nCache-Control: no-store\r\n"), std::string::npos);
    EXPECT_EQ(r->head.find("Connection: close"), std::string::npos);
  }
  EXPECT_EQ(admin.sessions(), 1u);
  EXPECT_EQ(admin.stop(), 0);
}

TEST(AdminServer, ClosesAfterTheResponseWhenTheClientAsks) {
  AdminLoop admin;
  Client c(admin.port());
  c.send(get("/now", "Connection: close\r\n"));
  auto r = c.read();
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(c.closedByPeer());
}

TEST(AdminServer, KeepsHttp10AliveOnlyWhenAsked) {
  AdminLoop admin;
  Client plain(admin.port());
  plain.send("GET /now HTTP/1.0\r\n\r\n");
  EXPECT_NE(plain.read().head.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(plain.closedByPeer());

  Client kept(admin.port());
  kept.send("GET /now HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_NE(kept.read().head.find("Connection: keep-alive"), std::string::npos);
  kept.send("GET /now HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(kept.read().status, 200);
}

TEST(AdminServer, AnswersHeadWithTheLengthButNoBody) {
  AdminLoop admin;
  Client c(admin.port());
  c.send("HEAD /now HTTP/1.1\r\nHost: a\r\n\r\n" + get("/now"));
  auto head = c.read(/*head_only=*/true);
  EXPECT_NE(head.head.find("Content-Length: 5\r\n"), std::string::npos);  // "HEAD "
  EXPECT_EQ(c.read().body, "GET ");  // the next response starts right after the head
}

TEST(AdminServer, RejectsBodiesOverOneMebibyte) {
  AdminLoop admin;
  Client declared(admin.port());
  declared.send("POST /now HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n");
  auto r = declared.read();
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("\"error\""), std::string::npos);
  EXPECT_TRUE(declared.closedByPeer());

  Client chunked(admin.port());
  chunked.send("POST /now HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string chunk = "40000\r\n" + std::string(0x40000, 'x') + "\r\n";
  for (int i = 0; i < 5; ++i) chunked.send(chunk);
  EXPECT_EQ(chunked.read().status, 413);

  Client fits(admin.port());
  fits.send(post("/now", std::string(AdminSession::kMaxBodyBytes, 'y')));
  auto ok = fits.read();
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body.size(), AdminSession::kMaxBodyBytes + 5);
}

TEST(AdminServer, SendsContinueBeforeTheBodyWhenExpected) {
  AdminLoop admin;
  Client c(admin.port());
  c.send("POST /now HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(c.read().status, 100);
  c.send("body");
  auto r = c.read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST body");
}

TEST(AdminServer, AnswersMalformedRequestsWith400AndCloses) {
  AdminLoop admin;
  Client c(admin.port());
  c.send("NOT HTTP\r\n\r\n");
  auto r = c.read();
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.head.find("application/json"), std::string::npos);
  EXPECT_TRUE(c.closedByPeer());
}

TEST(AdminServer, StillAnswersAClientThatHalfClosedAfterItsRequest) {
  AdminLoop admin;
  Client c(admin.port());
  c.send(post("/later", "bye"));
  c.shutdownWrite();
  EXPECT_EQ(c.read().body, "bye");
  EXPECT_TRUE(c.closedByPeer());
}

TEST(AdminServer, DropsAnAnswerThatComesAfterTheClientLeft) {
  AdminLoop admin;
  {
    Client c(admin.port());
    c.send(get("/held"));
    for (int i = 0; i < 200 && admin.held() == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(admin.held(), 1u);
    c.reset();
  }
  for (int i = 0; i < 200 && admin.sessions() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(admin.sessions(), 0u);
  admin.releaseHeld();  // the session is gone: nothing happens
  Client next(admin.port());
  next.send(get("/now"));
  EXPECT_EQ(next.read().status, 200);
  EXPECT_EQ(admin.stop(), 0);
}

TEST(AdminServer, LoopEndsCleanlyWithConnectionsAndAnswersStillOpen) {
  AdminLoop admin;
  Client idle(admin.port());
  idle.send(get("/now"));
  EXPECT_EQ(idle.read().status, 200);
  Client waiting(admin.port());
  waiting.send(get("/held"));
  Client partial(admin.port());
  partial.send("GET /now HTTP/1.1\r\nHo");
  for (int i = 0; i < 200 && admin.held() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(admin.stop(), 0);  // uv_loop_close() == 0: every handle was closed
  EXPECT_TRUE(idle.closedByPeer());
}

TEST(AdminServer, RefusesAnAddressInUse) {
  AdminLoop admin;
  net::EventLoop loop;
  auto second =
      AdminServer::listen(loop, config::HostPort{"127.0.0.1", admin.port(), ""}, AdminHandler{});
  EXPECT_FALSE(second.ok());
  loop.closeInternalHandles();
  EXPECT_EQ(loop.run(), 0);
}

// ---------------------------------------------------------------------------------------------
// Request helpers of the API

TEST(AdminPath, SplitsAndPercentDecodesSegments) {
  std::vector<std::string> seg;
  ASSERT_TRUE(splitPath("/upstreams/web/servers/%5B::1%5D:80/drain", seg));
  EXPECT_EQ(seg, (std::vector<std::string>{"upstreams", "web", "servers", "[::1]:80", "drain"}));
  ASSERT_TRUE(splitPath("/a//b/", seg));
  EXPECT_EQ(seg, (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(splitPath("/x%2Fy", seg));
  EXPECT_EQ(seg, (std::vector<std::string>{"x/y"}));
  ASSERT_TRUE(splitPath("/", seg));
  EXPECT_TRUE(seg.empty());
  EXPECT_FALSE(splitPath("/bad%zz", seg));
  EXPECT_FALSE(splitPath("/short%4", seg));
  EXPECT_FALSE(splitPath("/nul%00", seg));
}

TEST(AdminToken, ComparesWholeSecrets) {
  EXPECT_TRUE(secretEquals("s3cret", "s3cret"));
  EXPECT_FALSE(secretEquals("s3cre", "s3cret"));
  EXPECT_FALSE(secretEquals("s3crett", "s3cret"));
  EXPECT_FALSE(secretEquals("S3cret", "s3cret"));
  EXPECT_FALSE(secretEquals("", "s3cret"));
  EXPECT_FALSE(secretEquals("x", ""));
}

}  // namespace
}  // namespace weir::admin
