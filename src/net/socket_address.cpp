#include "net/socket_address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace weir::net {
namespace {
Error ioError(std::string detail) {
  return Error{ErrorCode::Io, Side::Internal, false, std::move(detail)};
}
}  // namespace

uint16_t SocketAddress::port() const {
  if (storage.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (storage.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

std::string SocketAddress::str() const {
  char text[INET6_ADDRSTRLEN] = "?";
  std::string out;
  if (storage.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, text,
              sizeof text);
    out.append(text);
  } else {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, text,
              sizeof text);
    out.append("[").append(text).append("]");
  }
  out.append(":").append(std::to_string(port()));
  return out;
}

Result<SocketAddress> SocketAddress::parseNumeric(const std::string& host, uint16_t port) {
  SocketAddress a;
  std::string h = host == "localhost" ? "127.0.0.1" : host == "*" ? "0.0.0.0" : host;
  auto* in4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  if (inet_pton(AF_INET, h.c_str(), &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    return a;
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET6, h.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    return a;
  }
  return Error{ErrorCode::InvalidArgument, Side::Internal, false, "not an IP address: " + host};
}

Result<SocketAddress> SocketAddress::resolve(const std::string& host, uint16_t port) {
  auto numeric = parseNumeric(host, port);
  if (numeric) return numeric;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || !found) {
    return Error{ErrorCode::InvalidArgument, Side::Internal, false,
                 "cannot resolve " + host + ": " + gai_strerror(rc)};
  }
  SocketAddress a;
  std::memcpy(&a.storage, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  if (a.storage.ss_family == AF_INET)
    reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
  else
    reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
  return a;
}

Result<int> openListenSocket(const SocketAddress& address, int backlog, bool reuse_port) {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ioError(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (address.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  // Accepted connections inherit TCP_NODELAY from the listening socket (Linux), which saves a
  // setsockopt per connection.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  socklen_t len = address.family() == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (::bind(fd, address.get(), len) != 0 || ::listen(fd, backlog) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return ioError("cannot listen on " + address.str() + ": " + why);
  }
  return fd;
}

void delayFirstAcks(int listen_fd, bool delay) {
  const int quick = delay ? 0 : 1;
  setsockopt(listen_fd, IPPROTO_TCP, TCP_QUICKACK, &quick, sizeof quick);
}

Result<SocketAddress> localAddress(int fd) {
  SocketAddress a;
  socklen_t len = sizeof a.storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &len) != 0)
    return ioError(std::string("getsockname: ") + std::strerror(errno));
  return a;
}

}  // namespace weir::net
