// TcpStream: one TCP connection (accepted or connected) with owned writes and a Handler that
// receives its events. Lives on one loop's thread; owned by a session or a pool entry.
// After close() no callback reaches the handler; the uv handle is freed in its close callback.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "net/event_loop.h"

namespace weir::net {

class TcpStream {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    /// Bytes read; they live in the loop's shared buffer only during this call.
    virtual void onRead(TcpStream& stream, const char* data, size_t len) = 0;
    /// The peer closed (UV_EOF) or the connection failed (a negative libuv code).
    virtual void onReadEnd(TcpStream& stream, int status) = 0;
    /// A queued write finished; check queuedBytes() to resume a paused reader.
    virtual void onWritten(TcpStream& stream, int status) = 0;
    virtual void onConnected(TcpStream& /*stream*/, int /*status*/) {}
  };

  explicit TcpStream(EventLoop& loop, Handler* handler = nullptr);
  ~TcpStream();
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  void setHandler(Handler* handler) { handler_ = handler; }
  EventLoop& loop() { return loop_; }

  /// Accepts a pending connection from `server`. Returns a libuv code.
  int accept(uv_stream_t* server);
  /// Starts connecting; onConnected reports the outcome.
  int connect(const sockaddr* address);

  void startRead();
  void stopRead();
  /// Reads what has already arrived, as the loop would once the socket is reported readable
  /// (the first request of a new connection is usually there when it is accepted: this saves a
  /// loop iteration). Does nothing unless reading. The handler may close the stream in onRead.
  void readNow();
  bool reading() const { return reading_; }
  /// Bytes have arrived that nobody has read yet (a peek; the stream need not be reading).
  bool hasUnreadBytes() const;

  /// Sends `data` (tries a direct send first, queues the rest). False when the stream is closed
  /// or shut down for writing, or the send failed at once. `last`: the caller closes or
  /// half-closes the stream right after this write (or writes once more without `last`), so
  /// the kernel may hold the bytes (MSG_MORE) until then and send the FIN in their segment.
  bool write(std::string_view data, bool last = false);
  bool write(std::string&& data);
  size_t queuedBytes() const;

  /// Half-closes the sending side once queued writes are out (the peer reads EOF).
  void shutdownWrite();
  void close();
  bool open() const { return handle_ != nullptr; }

  /// The peer's address as text (no port), e.g. "127.0.0.1" or "::1".
  std::string peerIp() const;
  /// The socket, for options and tests; -1 before connect() or accept().
  int fd() const;
  void setNoDelay(bool on);
  /// For a message still arriving (a head split over reads, a body): acknowledge segments as
  /// they are read rather than after the delayed-ACK timer. A socket that has just sent a
  /// request or response, or was accepted with delayFirstAcks(), delays its ACKs; a peer
  /// waiting on them (for send-buffer space, or under Nagle) would stall for 40 ms or more.
  /// TCP_QUICKACK lasts until the socket sends again, so this sets it once per write.
  void quickAck();

 private:
  static void onAlloc(uv_handle_t* h, size_t, uv_buf_t* buf);
  static void onReadCb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  void readAvailable();

  EventLoop& loop_;
  Handler* handler_;
  uv_tcp_t* handle_;
  bool reading_ = false;
  bool quick_ack_ = false;   // TCP_QUICKACK set since the last write
  bool connecting_ = false;  // a connect is in progress: writes queue until it completes
  bool shut_ = false;        // shutdownWrite() was called: no more writes
};

}  // namespace weir::net
