// AdminSession: one client connection to the admin endpoint: HTTP/1.1 with keep-alive, one
// request at a time (pipelined bytes wait), bodies up to kMaxBodyBytes. Each complete request
// goes to the AdminHandler, which answers through its Reply now or later (asynchronously); an
// answer may also be a stream (server-sent events) that ends the connection's exchanges.
// Lives on the control thread; owned by AdminServer, freed at a safe point after close().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"
#include "http/parser.h"
#include "net/event_loop.h"
#include "net/tcp_stream.h"
#include "net/timer.h"

namespace weir::admin {

struct AdminRequest {
  http::MessageHead head;  // method, target, headers
  std::string body;
  std::string client_ip;
};

class AdminSession;

/// The rest of a streaming response: each write goes out as it is. Copyable; once the client
/// has gone (or the session was closed) writes do nothing and return false, so holders drop
/// it then. Control thread only.
class StreamWriter {
 public:
  /// Sends `chunk`; false when the connection is gone, or closed now because the client reads
  /// too slowly (more than AdminSession::kMaxStreamQueueBytes waiting).
  bool write(std::string_view chunk) const;
  /// Ends the response: the connection is half-closed once the queued bytes are out.
  void close() const;
  bool open() const;

 private:
  friend class AdminSession;
  explicit StreamWriter(std::shared_ptr<AdminSession*> session) : session_(std::move(session)) {}
  std::shared_ptr<AdminSession*> session_;
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<http::HeaderField> headers;  // extra fields (Allow, WWW-Authenticate, ...)
  /// Set for a streaming response: the head goes out without Content-Length (the body ends when
  /// the connection closes), `body` is its first chunk, then `on_stream` gets the writer for the
  /// rest. The connection serves no further request. Ignored for HEAD (answered as usual).
  std::function<void(StreamWriter)> on_stream;
};

/// Sends the answer. Call it once, on the control thread, now or later: when the client has
/// gone (or the session was closed) in between, the answer is dropped.
using Reply = std::function<void(AdminResponse)>;
using AdminHandler = std::function<void(AdminRequest, Reply)>;

class AdminSession final : private net::TcpStream::Handler, private http::HttpParser::Sink {
 public:
  static constexpr size_t kMaxBodyBytes = 1 << 20;
  static constexpr std::chrono::milliseconds kRequestTimeout{30'000};  // from its first byte
  static constexpr std::chrono::milliseconds kIdleTimeout{60'000};     // between requests
  static constexpr std::chrono::milliseconds kAnswerTimeout{30'000};   // handler's, then 503
  static constexpr std::chrono::milliseconds kLinger{2'000};           // discard, then close
  /// A streaming client that lets more than this pile up is too slow: it is disconnected.
  static constexpr size_t kMaxStreamQueueBytes = 1 << 20;

  /// `handler` must outlive the session; `on_closed` runs once when the session closes.
  AdminSession(net::EventLoop& loop, const AdminHandler& handler,
               std::function<void(AdminSession*)> on_closed);
  ~AdminSession() override;

  /// Accepts a pending connection from `server`; false (and closed) on failure.
  bool start(uv_stream_t* server);
  /// Closes the connection now; no callback reaches this session afterwards.
  void close();

 private:
  friend class StreamWriter;
  enum class Phase { Reading, Waiting, Streaming, Lingering, Closed };

  // net::TcpStream::Handler
  void onRead(net::TcpStream& s, const char* data, size_t len) override;
  void onReadEnd(net::TcpStream& s, int status) override;
  void onWritten(net::TcpStream& s, int status) override;
  // http::HttpParser::Sink
  bool onHead(http::HttpParser& p) override;
  void onBody(http::HttpParser& p, const char* data, size_t len) override;
  void onMessageComplete(http::HttpParser& p) override;

  void feed();
  void dispatch(bool upgrade);
  void onReply(uint64_t seq, AdminResponse response);
  void send(const AdminResponse& response);
  bool streamWrite(std::string_view chunk);
  void sendError(int status, const std::string& message);
  void linger();
  void onTimer();

  const AdminHandler& handler_;
  std::function<void(AdminSession*)> on_closed_;
  net::TcpStream stream_;
  http::HttpParser parser_;
  net::Timer timer_;
  std::shared_ptr<AdminSession*> self_;  // cleared by close(): late replies find nobody
  Phase phase_ = Phase::Reading;
  std::string client_ip_;
  std::string pending_;  // received, not parsed yet
  std::string body_;
  uint64_t seq_ = 0;  // the request being answered
  bool request_timer_ = false;
  bool keep_alive_ = true;
  bool http10_ = false;
  bool peer_done_ = false;  // the client half-closed: answer, then close
  bool in_feed_ = false;
  // What the response needs to know about the request it answers.
  std::string method_;
  std::string target_;
};

}  // namespace weir::admin
