// openListenSocket: the options every listener and every connection accepted on it carry.
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

TEST(OpenListenSocket, AcceptedConnectionsInheritNoDelay) {
  auto address = SocketAddress::parseNumeric("127.0.0.1", 0);
  ASSERT_TRUE(address);
  auto listener = openListenSocket(*address, 16);
  ASSERT_TRUE(listener) << listener.error().detail;
  EXPECT_NE(intOption(*listener, SOL_SOCKET, SO_REUSEPORT), 0);
  auto bound = localAddress(*listener);
  ASSERT_TRUE(bound);

  const int client = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(client, 0);
  ASSERT_EQ(connect(client, bound->get(), sizeof(sockaddr_in)), 0);
  pollfd ready{*listener, POLLIN, 0};
  ASSERT_EQ(poll(&ready, 1, 5000), 1);
  const int accepted = accept(*listener, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  EXPECT_NE(intOption(accepted, IPPROTO_TCP, TCP_NODELAY), 0);
  EXPECT_EQ(intOption(client, IPPROTO_TCP, TCP_NODELAY), 0);  // the option is not a default
  close(accepted);
  close(client);
  close(*listener);
}

}  // namespace
}  // namespace weir::net
