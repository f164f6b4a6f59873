#include "net/tcp_stream.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <memory>
#include <string>
#include <string_view>

#include "net/event_loop.h"
#include "net/uv_handle.h"

namespace weir::net {
namespace {

// Collects what a stream reports.
struct Recorder : TcpStream::Handler {
  std::string data;
  int read_end = 1;  // 1: not ended
  int connected = 1;
  int written = 0;
  int reads = 0;
  void onRead(TcpStream&, const char* p, size_t n) override {
    data.append(p, n);
    ++reads;
  }
  void onReadEnd(TcpStream&, int status) override { read_end = status; }
  void onWritten(TcpStream&, int) override { ++written; }
  void onConnected(TcpStream&, int status) override { connected = status; }
};

// A connected pair on loopback: `client` connected by TcpStream::connect, `server` accepted.
class TcpStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    listener_ = new uv_tcp_t;
    uv_tcp_init(loop_.raw(), listener_);
    listener_->data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    ASSERT_EQ(uv_tcp_bind(listener_, reinterpret_cast<sockaddr*>(&addr), 0), 0);
    ASSERT_EQ(uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 8,
                        [](uv_stream_t* s, int status) {
                          auto* self = static_cast<TcpStreamTest*>(s->data);
                          if (status != 0 || self->server) return;
                          self->server =
                              std::make_unique<TcpStream>(self->loop_, &self->server_events);
                          self->server->accept(s);
                        }),
              0);
    int len = sizeof addr;
    uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    client = std::make_unique<TcpStream>(loop_, &client_events);
    ASSERT_EQ(client->connect(reinterpret_cast<sockaddr*>(&addr)), 0);
    runUntil([&] { return server && client_events.connected == 0; });
    ASSERT_TRUE(server);
    ASSERT_EQ(client_events.connected, 0);
  }

  void TearDown() override {
    client.reset();
    server.reset();
    closeHandle(listener_);
    for (int i = 0; i < 10; ++i) uv_run(loop_.raw(), UV_RUN_NOWAIT);
  }

  // Runs the loop until `done` or 2 s of loop iterations (each waits at most 10 ms).
  template <typename F>
  void runUntil(F done) {
    uv_timer_t tick;
    uv_timer_init(loop_.raw(), &tick);
    uv_timer_start(
        &tick, [](uv_timer_t*) {}, 10, 10);
    for (int i = 0; i < 200 && !done(); ++i) uv_run(loop_.raw(), UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(loop_.raw(), UV_RUN_NOWAIT);
  }

  // Sends `body` from the client, then lets the server read with `handler` until its first read
  // and turns the loop a few times more.
  void firstReadOf(const std::string& body, Recorder& handler) {
    ASSERT_TRUE(client->write(std::string_view(body)));
    runUntil([&] { return client->queuedBytes() == 0; });
    server->setHandler(&handler);
    server->startRead();
    runUntil([&] { return handler.reads == 1; });
    for (int i = 0; i < 5; ++i) uv_run(loop_.raw(), UV_RUN_NOWAIT);
  }

  static int quickAckOption(const TcpStream& s) {
    int on = -1;
    socklen_t len = sizeof on;
    getsockopt(s.fd(), IPPROTO_TCP, TCP_QUICKACK, &on, &len);
    return on;
  }
  static void clearQuickAck(const TcpStream& s) {  // what the kernel does when the socket sends
    const int off = 0;
    setsockopt(s.fd(), IPPROTO_TCP, TCP_QUICKACK, &off, sizeof off);
  }

  EventLoop loop_;
  uv_tcp_t* listener_ = nullptr;
  Recorder client_events, server_events;
  std::unique_ptr<TcpStream> client, server;
};

TEST_F(TcpStreamTest, WritesArriveInOrderAndEofIsReported) {
  server->startRead();
  ASSERT_TRUE(client->write(std::string_view("hello ")));
  ASSERT_TRUE(
      client->write(std::string(8 << 20, 'x')));  // more than the socket takes at once: queued
  ASSERT_TRUE(client->write(std::string_view(" bye")));
  client->shutdownWrite();
  runUntil([&] { return server_events.read_end != 1; });
  EXPECT_EQ(server_events.data, "hello " + std::string(8 << 20, 'x') + " bye");
  EXPECT_EQ(server_events.read_end, UV_EOF);
  EXPECT_EQ(client->queuedBytes(), 0u);
}

// A last write waits in the kernel (for at most 200 ms) for the close or half-close that
// follows it, so the FIN leaves in its segment; a write too large to go at once is sent whole.
TEST_F(TcpStreamTest, ALastWriteIsHeldForTheFinThatFollowsIt) {
  client->startRead();
  ASSERT_TRUE(server->write(std::string_view("bye"), /*last=*/true));
  for (int i = 0; i < 5; ++i) uv_run(loop_.raw(), UV_RUN_NOWAIT);
  EXPECT_EQ(client_events.data, "");
  server->shutdownWrite();
  runUntil([&] { return client_events.read_end != 1; });
  EXPECT_EQ(client_events.data, "bye");
  EXPECT_EQ(client_events.read_end, UV_EOF);
}

TEST_F(TcpStreamTest, ALastWriteTooLargeForOneSendArrivesWhole) {
  client->startRead();
  ASSERT_TRUE(server->write(std::string(8 << 20, 'x'), /*last=*/true));
  EXPECT_GT(server->queuedBytes(), 0u);
  server->shutdownWrite();
  runUntil([&] { return client_events.read_end != 1; });
  EXPECT_EQ(client_events.data.size(), size_t{8} << 20);
  EXPECT_EQ(client_events.read_end, UV_EOF);
}

TEST_F(TcpStreamTest, PeerIpIsTheOtherEndsAddress) {
  EXPECT_EQ(server->peerIp(), "127.0.0.1");
  EXPECT_EQ(client->peerIp(), "127.0.0.1");
}

TEST_F(TcpStreamTest, NoWriteAfterShutdown) {
  client->shutdownWrite();
  EXPECT_FALSE(client->write(std::string_view("late")));
  server->startRead();
  runUntil([&] { return server_events.read_end != 1; });
  EXPECT_EQ(server_events.data, "");
  EXPECT_EQ(server_events.read_end, UV_EOF);
}

TEST_F(TcpStreamTest, WriteToAResetPeerFailsWithoutSigpipe) {
  linger hard{1, 0};  // close with RST
  setsockopt(server->fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  server.reset();
  bool failed = false;  // once the RST has arrived, writes fail; SIGPIPE would end the test
  runUntil([&] { return failed = !client->write(std::string_view("after reset")); });
  EXPECT_TRUE(failed);
}

TEST_F(TcpStreamTest, QuickAckIsSetOncePerWrite) {
  clearQuickAck(*server);
  ASSERT_EQ(quickAckOption(*server), 0);
  server->quickAck();
  EXPECT_EQ(quickAckOption(*server), 1);
  // Until the stream writes again, it does not set the option again (one syscall per body).
  clearQuickAck(*server);
  server->quickAck();
  EXPECT_EQ(quickAckOption(*server), 0);
  // After a write the kernel may delay ACKs again, so the next body sets it anew.
  ASSERT_TRUE(server->write(std::string_view("response")));
  clearQuickAck(*server);
  server->quickAck();
  EXPECT_EQ(quickAckOption(*server), 1);
}

TEST_F(TcpStreamTest, AResetPeerIsReportedAsConnectionReset) {
  server->startRead();
  linger hard{1, 0};  // close with RST
  setsockopt(client->fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  client.reset();
  runUntil([&] { return server_events.read_end != 1; });
  EXPECT_EQ(server_events.read_end, UV_ECONNRESET);
}

// Reads stop as soon as the handler stops reading, even with more bytes waiting than one read
// takes; startRead() delivers the rest.
TEST_F(TcpStreamTest, StopReadInsideOnReadHoldsTheRestUntilStartRead) {
  struct Pausing : Recorder {
    void onRead(TcpStream& s, const char* p, size_t n) override {
      Recorder::onRead(s, p, n);
      s.stopRead();
    }
  } pausing;
  const std::string body(3 * EventLoop::kReadBufferBytes, 'b');
  firstReadOf(body, pausing);
  EXPECT_EQ(pausing.reads, 1);
  EXPECT_LE(pausing.data.size(), EventLoop::kReadBufferBytes);
  while (pausing.data.size() < body.size() && pausing.reads < 100) {
    const int before = pausing.reads;
    server->startRead();
    runUntil([&] { return pausing.reads > before; });
  }
  EXPECT_EQ(pausing.data, body);
}

// weir's sessions are deleted at a safe point, not inside their callbacks (ARCHITECTURE.md,
// Lifetimes 3), but the read loop does not count on it: a stream destroyed from onRead while a
// full buffer suggests more to read reads no further (AddressSanitizer would report a use after
// free).
TEST_F(TcpStreamTest, HandlerMayDestroyTheStreamInsideOnRead) {
  struct Destroying : Recorder {
    std::unique_ptr<TcpStream>* owner = nullptr;
    void onRead(TcpStream& s, const char* p, size_t n) override {
      Recorder::onRead(s, p, n);
      owner->reset();
    }
  } destroying;
  destroying.owner = &server;
  firstReadOf(std::string(3 * EventLoop::kReadBufferBytes, 'd'), destroying);
  EXPECT_EQ(destroying.reads, 1);
  EXPECT_FALSE(server);
}

TEST_F(TcpStreamTest, ReadNowDeliversWhatHasArrivedWithoutTurningTheLoop) {
  ASSERT_TRUE(client->write(std::string_view("GET / HTTP/1.1\r\n\r\n")));
  ASSERT_EQ(client->queuedBytes(), 0u);  // sent at once: on loopback it is in server's socket
  server->readNow();                     // not reading: nothing
  EXPECT_EQ(server_events.reads, 0);
  server->startRead();
  server->readNow();
  EXPECT_EQ(server_events.data, "GET / HTTP/1.1\r\n\r\n");
  server->readNow();  // nothing more has arrived: no read, no end
  EXPECT_EQ(server_events.reads, 1);
  EXPECT_EQ(server_events.read_end, 1);
}

TEST_F(TcpStreamTest, HasUnreadBytesPeeksWithoutConsumingOrReading) {
  EXPECT_FALSE(server->hasUnreadBytes());  // nothing sent yet
  ASSERT_TRUE(client->write(std::string_view("late")));
  ASSERT_EQ(client->queuedBytes(), 0u);   // on loopback it is in server's socket already
  EXPECT_TRUE(server->hasUnreadBytes());  // not reading: still seen
  EXPECT_TRUE(server->hasUnreadBytes());  // a peek: the byte is still there
  server->startRead();
  server->readNow();
  EXPECT_EQ(server_events.data, "late");  // every byte, the peeked one included
  EXPECT_FALSE(server->hasUnreadBytes());
  client.reset();  // the peer's FIN is not unread data
  runUntil([&] { return server_events.read_end != 1; });
  EXPECT_FALSE(server->hasUnreadBytes());
}

}  // namespace
}  // namespace weir::net
