// SocketAddress: an IPv4/IPv6 address and port, parsed from config text or resolved once at
// load time (never on the request path). Plain value; any thread.
#pragma once

#include <sys/socket.h>

#include <string>

#include "core/result.h"

namespace weir::net {

struct SocketAddress {
  sockaddr_storage storage{};
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  uint16_t port() const;
  /// "127.0.0.1:8080" or "[::1]:8080".
  std::string str() const;

  /// Numeric IP (or "localhost", or "*" for any) and port.
  static Result<SocketAddress> parseNumeric(const std::string& host, uint16_t port);
  /// Numeric or resolved with getaddrinfo (blocking: call at load time only).
  static Result<SocketAddress> resolve(const std::string& host, uint16_t port);
};

/// Accept-queue length for the proxy's listeners. Connections beyond a full queue have their
/// SYNs dropped and retried a second later; 4096 leaves more room for a burst (a load test that
/// opens all its connections at once) than nginx's 511. The kernel caps it at
/// net.core.somaxconn (4096 by default).
inline constexpr int kListenBacklog = 4096;

/// Creates a non-blocking listening socket with SO_REUSEADDR (and SO_REUSEPORT unless told
/// otherwise) and TCP_NODELAY (inherited by accepted connections), bound to `address`. Returns
/// the fd.
Result<int> openListenSocket(const SocketAddress& address, int backlog, bool reuse_port = true);
/// With `delay`, makes the connections `listen_fd` accepts start with delayed ACKs (TCP_QUICKACK
/// off, inherited on Linux): a request that arrives whole is acknowledged by the response
/// instead of by a segment of its own. A server that reads a partial request must call
/// TcpStream::quickAck(), or a client waiting on that ACK (Nagle) stalls for the delayed-ACK
/// timer. Without, they start with the kernel's quick ACKs again.
void delayFirstAcks(int listen_fd, bool delay);
/// The address a bound socket actually has (learns the port when bound to port 0).
Result<SocketAddress> localAddress(int fd);

}  // namespace weir::net
