// Session resumption: tickets and the session cache are shared by every TlsSession made from one
// ServerTlsContext, whichever thread (worker) runs it.
#include <gtest/gtest.h>

#include <thread>

#include "test_certs.h"
#include "tls_test_peers.h"

namespace weir::tls::testing {
namespace {

// Runs a whole handshake on its own thread, as a different worker would.
Connection connectOnAnotherThread(const ServerTlsContext& server, const ClientTlsContext& client,
                                  const std::string& name) {
  Connection c;
  std::thread worker([&] { c = connect(server, client, name); });
  worker.join();
  return c;
}

struct Case {
  const char* max_version;
  bool tickets;
};

class TlsResumptionTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { ASSERT_EQ(testCerts().error, ""); }
};

TEST_P(TlsResumptionTest, SecondConnectionResumesOnAnotherWorker) {
  ServerTlsConfig server_config = serverConfig();
  server_config.session_tickets = GetParam().tickets;
  auto server = makeServer(server_config);
  ClientTlsConfig client_config = clientConfig();
  client_config.max_version = GetParam().max_version;
  auto client = makeClient(client_config);

  {
    Connection first = connectOnAnotherThread(*server, *client, "b.test");
    ASSERT_TRUE(first.established()) << first.client->error().detail;
    EXPECT_FALSE(first.client->resumed());
    EXPECT_EQ(client->storedSessions(), 1u);
  }  // closed without close_notify, as dropped keep-alive connections are: still resumable

  Connection second = connectOnAnotherThread(*server, *client, "b.test");
  ASSERT_TRUE(second.established()) << second.client->error().detail;
  EXPECT_TRUE(second.client->resumed());
  EXPECT_TRUE(second.server->resumed());
  EXPECT_EQ(second.client->peerCertificateNames(), std::vector<std::string>{"b.test"});

  for (int i = 0; i < 3; ++i) {  // and so on, connection after connection
    Connection next = connect(*server, *client, "b.test");
    ASSERT_TRUE(next.established());
    EXPECT_TRUE(next.server->resumed()) << "connection " << i + 3;
  }
}

INSTANTIATE_TEST_SUITE_P(VersionsAndTickets, TlsResumptionTest,
                         ::testing::Values(Case{"1.3", true}, Case{"1.3", false}, Case{"1.2", true},
                                           Case{"1.2", false}),
                         [](const auto& info) {
                           return std::string(info.param.max_version[2] == '3' ? "Tls13"
                                                                               : "Tls12") +
                                  (info.param.tickets ? "Tickets" : "SessionCache");
                         });

TEST(TlsResumption, SessionsDoNotCrossServerNames) {
  ASSERT_EQ(testCerts().error, "");
  auto server = makeServer(serverConfig());
  auto client = makeClient(clientConfig());
  ASSERT_TRUE(connect(*server, *client, "a.test").established());
  Connection other = connect(*server, *client, "b.test");
  ASSERT_TRUE(other.established());
  EXPECT_FALSE(other.client->resumed());
  EXPECT_EQ(client->storedSessions(), 2u);
}

TEST(TlsResumption, FailedConnectionLeavesNoSessionBehind) {
  ASSERT_EQ(testCerts().error, "");
  auto server = makeServer(serverConfig());
  auto client = makeClient(clientConfig());
  Connection c = connect(*server, *client, "unknown.test");  // hostname mismatch
  EXPECT_EQ(c.client_status, Status::Failed);
  EXPECT_EQ(client->storedSessions(), 0u);
}

TEST(TlsResumption, AnotherServerContextCannotReadTheTicket) {
  ASSERT_EQ(testCerts().error, "");
  auto before_reload = makeServer(serverConfig());
  auto after_reload = makeServer(serverConfig());  // fresh ticket keys
  auto client = makeClient(clientConfig());
  ASSERT_TRUE(connect(*before_reload, *client, "a.test").established());
  Connection c = connect(*after_reload, *client, "a.test");
  ASSERT_TRUE(c.established());  // falls back to a full handshake
  EXPECT_FALSE(c.server->resumed());
}

TEST(TlsResumption, ReloadedContextKeepsTheTicketKeysOfThePreviousOne) {
  ASSERT_EQ(testCerts().error, "");
  auto before_reload = makeServer(serverConfig());
  auto reloaded = ServerTlsContext::create(serverConfig(), nullptr, before_reload.get());
  ASSERT_TRUE(reloaded.ok());
  auto client = makeClient(clientConfig());
  ASSERT_TRUE(connect(*before_reload, *client, "a.test").established());
  before_reload.reset();  // the old snapshot goes away
  Connection c = connect(**reloaded, *client, "a.test");
  ASSERT_TRUE(c.established());
  EXPECT_TRUE(c.server->resumed());
}

}  // namespace
}  // namespace weir::tls::testing
