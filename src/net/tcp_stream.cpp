#include "net/tcp_stream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>
#include <cstring>

#include "net/uv_handle.h"

namespace weir::net {
namespace {

struct WriteRequest {
  uv_write_t req;
  std::string bytes;
};

struct ConnectRequest {
  uv_connect_t req;
};

// "a.b.c.d" from 4 bytes in network order. inet_ntop and uv_ip4_name go through snprintf, which
// was a visible share of the CPU of a short connection (this runs once per connection).
std::string ipv4Text(const unsigned char* b) {
  std::string out;
  out.reserve(15);
  for (int i = 0; i < 4; ++i) {
    if (i) out.push_back('.');
    const unsigned v = b[i];
    if (v >= 100) out.push_back(static_cast<char>('0' + v / 100));
    if (v >= 10) out.push_back(static_cast<char>('0' + v / 10 % 10));
    out.push_back(static_cast<char>('0' + v % 10));
  }
  return out;
}

}  // namespace

TcpStream::TcpStream(EventLoop& loop, Handler* handler)
    : loop_(loop), handler_(handler), handle_(new uv_tcp_t) {
  uv_tcp_init(loop.raw(), handle_);
  handle_->data = this;
}

TcpStream::~TcpStream() { close(); }

int TcpStream::accept(uv_stream_t* server) {
  return uv_accept(server, reinterpret_cast<uv_stream_t*>(handle_));
}

int TcpStream::connect(const sockaddr* address) {
  auto* req = new ConnectRequest;
  int rc = uv_tcp_connect(&req->req, handle_, address, [](uv_connect_t* r, int status) {
    auto* stream = static_cast<TcpStream*>(r->handle->data);
    delete reinterpret_cast<ConnectRequest*>(r);
    if (!stream) return;
    stream->connecting_ = false;
    if (stream->handler_) stream->handler_->onConnected(*stream, status);
  });
  if (rc != 0) {
    delete req;
  } else {
    connecting_ = true;
  }
  return rc;
}

// Reads go through recv() rather than libuv's read(), for the reason write() uses send(). libuv
// calls the read callback with UV_ENOBUFS, without reading, when the allocation callback offers
// no room (uv_alloc_cb); the callback then reads the socket itself.
void TcpStream::onAlloc(uv_handle_t*, size_t, uv_buf_t* buf) { *buf = uv_buf_init(nullptr, 0); }

void TcpStream::onReadCb(uv_stream_t* s, ssize_t status, const uv_buf_t*) {
  auto* self = static_cast<TcpStream*>(s->data);
  if (self && status == UV_ENOBUFS) self->readAvailable();
}

void TcpStream::readNow() {
  if (reading_) readAvailable();
}

// Like libuv: read again while a read fills the loop's buffer (a large body), up to 32 times per
// wakeup; stop as soon as the handler stops reading or closes the stream, which may destroy
// `this` (the uv handle outlives it: `s->data` is cleared first).
void TcpStream::readAvailable() {
  uv_stream_t* s = reinterpret_cast<uv_stream_t*>(handle_);
  uv_os_fd_t fd;
  if (!s || uv_fileno(reinterpret_cast<uv_handle_t*>(s), &fd) != 0) return;
  char* buf = loop_.readBuffer();
  constexpr size_t kRoom = EventLoop::kReadBufferBytes;
  for (int reads = 0; reads < 32; ++reads) {
    ssize_t n;
    do {
      n = ::recv(fd, buf, kRoom, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      const int code = n == 0 ? UV_EOF : -errno;  // libuv's codes are negated errno values
      stopRead();
      if (handler_) handler_->onReadEnd(*this, code);
      return;
    }
    if (handler_) handler_->onRead(*this, buf, static_cast<size_t>(n));
    if (s->data != this || !reading_ || static_cast<size_t>(n) < kRoom) return;
  }
}

bool TcpStream::hasUnreadBytes() const {
  const int sock = fd();
  if (sock < 0) return false;
  char byte;
  ssize_t n;
  do {
    n = ::recv(sock, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  return n > 0;
}

void TcpStream::startRead() {
  if (!handle_ || reading_) return;
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(handle_), onAlloc, onReadCb) == 0)
    reading_ = true;
}

void TcpStream::stopRead() {
  if (!handle_ || !reading_) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(handle_));
  reading_ = false;
}

// The direct attempt uses send() rather than libuv's write(): the same bytes, without the VFS
// layers a write() on a socket goes through first (a measurable share of the kernel time per
// request on loopback).
bool TcpStream::write(std::string_view data, bool last) {
  if (!handle_ || shut_) return false;
  if (data.empty()) return true;
  quick_ack_ = false;
  auto* s = reinterpret_cast<uv_stream_t*>(handle_);
  uv_os_fd_t fd;
  if (!connecting_ && uv_stream_get_write_queue_size(s) == 0 &&
      uv_fileno(reinterpret_cast<uv_handle_t*>(handle_), &fd) == 0) {
    ssize_t n;
    do {
      n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT | (last ? MSG_MORE : 0));
    } while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(data.size())) return true;
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return false;
    }
  }
  auto* w = new WriteRequest;
  w->bytes.assign(data.data(), data.size());
  uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  int rc = uv_write(&w->req, s, &buf, 1, [](uv_write_t* req, int status) {
    auto* stream = static_cast<TcpStream*>(req->handle->data);
    delete reinterpret_cast<WriteRequest*>(req);
    if (stream && stream->handler_) stream->handler_->onWritten(*stream, status);
  });
  if (rc != 0) {
    delete w;
    return false;
  }
  return true;
}

bool TcpStream::write(std::string&& data) { return write(std::string_view(data)); }

size_t TcpStream::queuedBytes() const {
  return handle_ ? uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(handle_))
                 : 0;
}

void TcpStream::shutdownWrite() {
  if (!handle_ || shut_) return;
  shut_ = true;
  auto* req = new uv_shutdown_t;
  if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(handle_),
                  [](uv_shutdown_t* r, int) { delete r; }) != 0)
    delete req;
}

void TcpStream::close() {
  reading_ = false;
  closeHandle(handle_);
}

std::string TcpStream::peerIp() const {
  if (!handle_) return "-";
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(handle_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "-";
  char text[INET6_ADDRSTRLEN] = "-";
  if (ss.ss_family == AF_INET) {
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(&ss);
    return ipv4Text(reinterpret_cast<const unsigned char*>(&in4->sin_addr));
  }
  if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) return ipv4Text(&in6->sin6_addr.s6_addr[12]);
    uv_ip6_name(in6, text, sizeof text);
  }
  return text;
}

void TcpStream::setNoDelay(bool on) {
  if (handle_) uv_tcp_nodelay(handle_, on ? 1 : 0);
}

int TcpStream::fd() const {
  uv_os_fd_t fd = -1;
  if (!handle_ || uv_fileno(reinterpret_cast<const uv_handle_t*>(handle_), &fd) != 0) return -1;
  return fd;
}

void TcpStream::quickAck() {
  if (quick_ack_) return;
  const int s = fd();
  const int one = 1;
  quick_ack_ = s >= 0 && setsockopt(s, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one) == 0;
}

}  // namespace weir::net
