// openListenSocket and delayFirstAcks: the options every listener and every connection
// accepted on it carry.
#include "net/socket_address.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace weir::net {
namespace {

int intOption(int fd, int level, int name) {
  int value = -1;
  socklen_t len = sizeof value;
  EXPECT_EQ(getsockopt(fd, level, name, &value, &len), 0);
  return value;
}

// A listening socket on a free loopback port, a client connected to it and the connection it
// accepted; closes all three.
struct AcceptedPair {
  int listener = -1, client = -1, accepted = -1;
  // `delays`: the delayFirstAcks() calls made on the listener, in order.
  explicit AcceptedPair(std::initializer_list<bool> delays = {}) {
    auto address = SocketAddress::parseNumeric("127.0.0.1", 0);
    EXPECT_TRUE(address);
    auto fd = openListenSocket(*address, 16);
    EXPECT_TRUE(fd) << fd.error().detail;
    if (!fd) return;
    listener = *fd;
    for (bool delay : delays) delayFirstAcks(listener, delay);
    auto bound = localAddress(listener);
    EXPECT_TRUE(bound);
    client = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(connect(client, bound->get(), sizeof(sockaddr_in)), 0);
    pollfd ready{listener, POLLIN, 0};
    EXPECT_EQ(poll(&ready, 1, 5000), 1);
    accepted = accept(listener, nullptr, nullptr);
    EXPECT_GE(accepted, 0);
  }
  ~AcceptedPair() {
    for (int fd : {accepted, client, listener})
      if (fd >= 0) close(fd);
  }
};

TEST(OpenListenSocket, AcceptedConnectionsInheritNoDelay) {
  AcceptedPair pair;
  EXPECT_NE(intOption(pair.listener, SOL_SOCKET, SO_REUSEPORT), 0);
  EXPECT_NE(intOption(pair.accepted, IPPROTO_TCP, TCP_NODELAY), 0);
  EXPECT_EQ(intOption(pair.client, IPPROTO_TCP, TCP_NODELAY), 0);  // the option is not a default
}

// TCP_QUICKACK reads 1 while the socket acknowledges at once, 0 while it delays its ACKs.
TEST(OpenListenSocket, DelayFirstAcksIsInheritedByAcceptedConnections) {
  AcceptedPair quick;
  EXPECT_EQ(intOption(quick.accepted, IPPROTO_TCP, TCP_QUICKACK), 1);  // the kernel's default
  AcceptedPair delayed({true});
  EXPECT_EQ(intOption(delayed.accepted, IPPROTO_TCP, TCP_QUICKACK), 0);
  EXPECT_EQ(intOption(delayed.client, IPPROTO_TCP, TCP_QUICKACK), 1);
}

// A listener that a reload turns from plain HTTP to TLS keeps its socket: its new connections
// must get quick ACKs again.
TEST(OpenListenSocket, DelayFirstAcksCanBeUndone) {
  AcceptedPair undone({true, false});
  EXPECT_EQ(intOption(undone.accepted, IPPROTO_TCP, TCP_QUICKACK), 1);
}

}  // namespace
}  // namespace weir::net
