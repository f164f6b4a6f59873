// A client and a server TlsSession back to back in memory: certificate selection, versions,
// ALPN, verification, mutual TLS, data transfer, close.
#include "tls/tls_session.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "test_certs.h"
#include "tls_test_peers.h"

namespace weir::tls::testing {
namespace {

class TlsSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(certs.error, "");
    server = makeServer(serverConfig());
    client = makeClient(clientConfig());
    ASSERT_TRUE(server && client);
  }
  std::shared_ptr<ClientTlsContext> unverifiedClient() {
    ClientTlsConfig config;
    config.verify = false;
    return makeClient(config);
  }

  const TestCerts& certs = testCerts();
  std::shared_ptr<ServerTlsContext> server;
  std::shared_ptr<ClientTlsContext> client;
};

TEST_F(TlsSessionTest, SniSelectsTheCertificateForEachName) {
  Connection a = connect(*server, *client, "a.test");
  ASSERT_TRUE(a.established()) << a.client->error().detail << a.server->error().detail;
  EXPECT_EQ(a.client->peerCertificateNames(), std::vector<std::string>{"a.test"});
  EXPECT_EQ(a.server->sni(), "a.test");

  Connection b = connect(*server, *client, "b.test");  // verifies through the intermediate
  ASSERT_TRUE(b.established()) << b.client->error().detail;
  EXPECT_EQ(b.client->peerCertificateNames(), std::vector<std::string>{"b.test"});
  EXPECT_EQ(b.client->peerCertificateSubject(), "CN=b.test");
  EXPECT_EQ(b.server->sni(), "b.test");
}

TEST_F(TlsSessionTest, WildcardCertificateServesOneLabelUnderIt) {
  Connection c = connect(*server, *client, "api.w.test");
  ASSERT_TRUE(c.established()) << c.client->error().detail;
  EXPECT_EQ(c.client->peerCertificateNames(), std::vector<std::string>{"*.w.test"});

  Connection deeper = connect(*server, *unverifiedClient(), "x.api.w.test");
  ASSERT_TRUE(deeper.established());
  EXPECT_EQ(deeper.client->peerCertificateNames(), std::vector<std::string>{"a.test"});
}

TEST_F(TlsSessionTest, UnknownOrMissingNameGetsTheFirstCertificate) {
  auto any = unverifiedClient();
  Connection unknown = connect(*server, *any, "unknown.test");
  ASSERT_TRUE(unknown.established());
  EXPECT_EQ(unknown.client->peerCertificateNames(), std::vector<std::string>{"a.test"});
  EXPECT_EQ(unknown.server->sni(), "unknown.test");

  Connection nameless = connect(*server, *any, "");
  ASSERT_TRUE(nameless.established());
  EXPECT_EQ(nameless.client->peerCertificateNames(), std::vector<std::string>{"a.test"});
  EXPECT_EQ(nameless.server->sni(), "");
}

TEST_F(TlsSessionTest, ServesRsaOrEcdsaForOneNameByWhatTheClientSupports) {
  for (auto [sigalgs, expected] : {std::pair{"RSA-PSS+SHA256:RSA+SHA256", "/CN=a.test/O=rsa"},
                                   std::pair{"ECDSA+SHA256", "/CN=a.test/O=ecdsa"}}) {
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
      RawTlsClient raw({.max_version = version, .sigalgs = sigalgs, .sni = "a.test"});
      auto session = TlsSession::server(*server);
      EXPECT_EQ(rawHandshake(raw, *session), Status::Ok) << session->error().detail;
      EXPECT_TRUE(raw.handshakeDone());
      EXPECT_EQ(raw.peerSubject(), expected) << sigalgs << " version " << version;
    }
  }
}

TEST_F(TlsSessionTest, NegotiatesTls13ByDefault) {
  Connection c = connect(*server, *client, "a.test");
  ASSERT_TRUE(c.established());
  EXPECT_EQ(c.client->version(), "TLSv1.3");
  EXPECT_EQ(c.server->version(), "TLSv1.3");
  EXPECT_FALSE(c.server->resumed());
}

TEST_F(TlsSessionTest, NegotiatesTls12WithAnAeadSuiteWhenTheClientStopsAt12) {
  ClientTlsConfig config = clientConfig();
  config.max_version = "1.2";
  Connection c = connect(*server, *makeClient(config), "a.test");
  ASSERT_TRUE(c.established()) << c.client->error().detail;
  EXPECT_EQ(c.server->version(), "TLSv1.2");
  const std::string cipher(c.server->cipher());
  EXPECT_EQ(cipher.rfind("ECDHE-", 0), 0u) << cipher;
  EXPECT_TRUE(cipher.find("GCM") != std::string::npos || cipher.find("CHACHA") != std::string::npos)
      << cipher;
}

TEST_F(TlsSessionTest, Tls13OnlyServerRefusesA12Client) {
  ServerTlsConfig config = serverConfig();
  config.min_version = "1.3";
  ClientTlsConfig old = clientConfig();
  old.max_version = "1.2";
  Connection c = connect(*makeServer(config), *makeClient(old), "a.test");
  EXPECT_EQ(c.server_status, Status::Failed);
  EXPECT_EQ(c.server->failureReason(), "unsupported protocol");
  EXPECT_EQ(c.client_status, Status::Failed);
  EXPECT_EQ(c.client->failureReason(), "tlsv1 alert protocol version");
}

TEST_F(TlsSessionTest, RefusesAClientLimitedToTls11) {
  RawTlsClient raw({.max_version = TLS1_1_VERSION, .sni = "a.test"});
  auto session = TlsSession::server(*server);
  EXPECT_EQ(rawHandshake(raw, *session), Status::Failed);
  EXPECT_EQ(session->failureReason(), "unsupported protocol");
  EXPECT_FALSE(raw.handshakeDone());
  EXPECT_EQ(session->error().side, Side::Downstream);
}

TEST_F(TlsSessionTest, RefusesAClientWithOnlyLegacyCiphers) {
  RawTlsClient raw({.max_version = TLS1_2_VERSION, .ciphers = "AES128-SHA:@SECLEVEL=0"});
  auto session = TlsSession::server(*server);
  EXPECT_EQ(rawHandshake(raw, *session), Status::Failed);
  EXPECT_EQ(session->failureReason(), "no shared cipher");
}

TEST_F(TlsSessionTest, PlainHttpOnTheTlsPortFailsWithItsOwnReason) {
  auto session = TlsSession::server(*server);
  EXPECT_EQ(session->feed("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"), Status::Failed);
  EXPECT_EQ(session->failureReason(), "http request");
}

TEST_F(TlsSessionTest, SelectsHttp11ByAlpn) {
  ClientTlsConfig config = clientConfig();
  config.alpn = {"h2", "http/1.1"};
  for (const char* name : {"a.test", "b.test"}) {  // the default context and a switched-to one
    Connection c = connect(*server, *makeClient(config), name);
    ASSERT_TRUE(c.established());
    EXPECT_EQ(c.server->alpn(), "http/1.1");
    EXPECT_EQ(c.client->alpn(), "http/1.1");
  }
}

TEST_F(TlsSessionTest, NoAlpnOverlapCarriesOnWithoutAlpn) {
  ClientTlsConfig config = clientConfig();
  config.alpn = {"h2"};
  Connection c = connect(*server, *makeClient(config), "a.test");
  ASSERT_TRUE(c.established()) << c.server->error().detail;
  EXPECT_EQ(c.server->alpn(), "");
  EXPECT_EQ(c.client->alpn(), "");
}

TEST_F(TlsSessionTest, WrongCaFailsVerificationWithTheReasonWhy) {
  ClientTlsConfig config = clientConfig();
  config.ca_file = certs.path("other-ca.crt");
  Connection c = connect(*server, *makeClient(config), "a.test");
  EXPECT_EQ(c.client_status, Status::Failed);
  EXPECT_EQ(c.client->failureReason(),
            "certificate verify failed: unable to get local issuer certificate");
  EXPECT_EQ(c.client->error().detail,
            "TLS handshake failed: certificate verify failed: unable to get local issuer "
            "certificate");
  EXPECT_EQ(c.client->error().side, Side::Upstream);
  EXPECT_EQ(c.server_status, Status::Failed);
  EXPECT_EQ(c.server->failureReason(), "tlsv1 alert unknown ca");
}

TEST_F(TlsSessionTest, NameNotOnTheCertificateFailsVerification) {
  Connection c = connect(*server, *client, "unknown.test");  // gets a.test's certificate
  EXPECT_EQ(c.client_status, Status::Failed);
  EXPECT_EQ(c.client->failureReason(), "certificate verify failed: hostname mismatch");
  EXPECT_TRUE(contains(c.client->error().detail, "hostname mismatch"));
}

TEST_F(TlsSessionTest, ExpiredCertificateFailsVerificationSayingSo) {
  ServerTlsConfig config;
  config.certificates = {{certs.path("expired.crt"), certs.path("expired.key")}};
  Connection c = connect(*makeServer(config), *client, "expired.test");
  EXPECT_EQ(c.client_status, Status::Failed);
  EXPECT_EQ(c.client->failureReason(), "certificate verify failed: certificate has expired");
}

TEST_F(TlsSessionTest, FailureAfterAnUnverifiedHandshakeIsNotBlamedOnTheChain) {
  // verify: false still records the untrusted chain's verify result; it caused nothing here.
  Connection c = connect(*server, *unverifiedClient(), "a.test");
  ASSERT_TRUE(c.established());
  std::string plain;
  ASSERT_EQ(c.client->feed(std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, 'x')),
            Status::Ok);  // a forged application-data record: decrypted on read
  EXPECT_EQ(c.client->read(plain), Status::Failed);
  EXPECT_FALSE(contains(std::string(c.client->failureReason()), "verify"))
      << c.client->failureReason();
  EXPECT_FALSE(contains(c.client->error().detail, "issuer")) << c.client->error().detail;
  EXPECT_EQ(c.client->error().detail, "TLS failed: decryption failed or bad record mac");
  EXPECT_TRUE(c.client->handshakeDone());  // a failure after the handshake, not during it
}

TEST_F(TlsSessionTest, IpAddressIsVerifiedButNotSentAsSni) {
  Connection c = connect(*server, *client, "127.0.0.1");
  EXPECT_EQ(c.server->sni(), "");
  EXPECT_EQ(c.client_status, Status::Failed);
  EXPECT_EQ(c.client->failureReason(), "certificate verify failed: IP address mismatch");
}

TEST_F(TlsSessionTest, SystemStoreDoesNotTrustTheTestCa) {
  ClientTlsConfig config;  // verify on, no ca_file: the system store
  Connection c = connect(*server, *makeClient(config), "a.test");
  EXPECT_EQ(c.client_status, Status::Failed);
  EXPECT_EQ(c.client->failureReason(),
            "certificate verify failed: unable to get local issuer certificate");
}

class TlsMutualAuthTest : public TlsSessionTest {
 protected:
  std::shared_ptr<ServerTlsContext> serverAsking(ServerTlsConfig::ClientAuth mode) {
    ServerTlsConfig config = serverConfig();
    config.client_ca = certs.path("ca.crt");
    config.client_auth = mode;
    return makeServer(config);
  }
  std::shared_ptr<ClientTlsContext> clientWithCertificate() {
    ClientTlsConfig config = clientConfig();
    config.client_cert = certs.path("client.crt");
    config.client_key = certs.path("client.key");
    return makeClient(config);
  }
};

TEST_F(TlsMutualAuthTest, RequiredClientCertificateIsAccepted) {
  auto server = serverAsking(ServerTlsConfig::Require);
  for (const char* max : {"1.2", "1.3"}) {
    for (const char* name : {"a.test", "b.test"}) {
      ClientTlsConfig config = clientConfig();
      config.client_cert = certs.path("client.crt");
      config.client_key = certs.path("client.key");
      config.max_version = max;
      Connection c = connect(*server, *makeClient(config), name);
      ASSERT_TRUE(c.established()) << max << " " << name << ": " << c.server->error().detail;
      EXPECT_EQ(c.server->peerCertificateSubject(), "O=tests,CN=client.test");
    }
  }
}

TEST_F(TlsMutualAuthTest, MissingClientCertificateIsRefusedWhenRequired) {
  Connection c = connect(*serverAsking(ServerTlsConfig::Require), *client, "a.test");
  EXPECT_EQ(c.server_status, Status::Failed);
  EXPECT_EQ(c.server->failureReason(), "peer did not return a certificate");
  // TLS 1.3: the client has finished its side and learns of the refusal on its next read.
  EXPECT_EQ(c.client_status, Status::Failed);
  EXPECT_EQ(c.client->failureReason(), "tlsv13 alert certificate required");
}

TEST_F(TlsMutualAuthTest, OptionalClientCertificateMayBeAbsent) {
  auto optional = serverAsking(ServerTlsConfig::Optional);
  Connection without = connect(*optional, *client, "a.test");
  ASSERT_TRUE(without.established()) << without.server->error().detail;
  EXPECT_EQ(without.server->peerCertificateSubject(), "");
  Connection with = connect(*optional, *clientWithCertificate(), "a.test");
  ASSERT_TRUE(with.established());
  EXPECT_EQ(with.server->peerCertificateSubject(), "O=tests,CN=client.test");
}

TEST_F(TlsMutualAuthTest, ClientCertificateFromAnotherCaIsRefused) {
  ServerTlsConfig config = serverConfig();
  config.client_ca = certs.path("other-ca.crt");
  config.client_auth = ServerTlsConfig::Optional;
  Connection c = connect(*makeServer(config), *clientWithCertificate(), "a.test");
  EXPECT_EQ(c.server_status, Status::Failed);
  EXPECT_EQ(c.server->failureReason(),
            "certificate verify failed: unable to get local issuer certificate");
  EXPECT_EQ(c.server->error().side, Side::Downstream);
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 2463534242u;  // xorshift32: every byte value, no accidental repetition
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

TEST_F(TlsSessionTest, OneMebibyteRoundTripsIntactBothWays) {
  Connection c = connect(*server, *client, "a.test");
  ASSERT_TRUE(c.established());
  const std::string up = pattern(1 << 20);
  c.client->write(up);
  c.pump(7919);  // odd-sized feeds split records anywhere
  ASSERT_TRUE(c.settled);
  EXPECT_EQ(c.server_received.size(), up.size());
  EXPECT_TRUE(c.server_received == up);

  const std::string down = pattern((1 << 20) + 17);
  for (size_t at = 0; at < down.size(); at += 100000) c.server->write(down.substr(at, 100000));
  c.pump(1);  // the most fragmented delivery there is
  ASSERT_TRUE(c.settled);
  EXPECT_EQ(c.client_received.size(), down.size());
  EXPECT_TRUE(c.client_received == down);
}

TEST_F(TlsSessionTest, WritesBeforeTheHandshakeAreSentOnceItCompletes) {
  Connection c;
  c.client = TlsSession::client(*client, "a.test");
  c.server = TlsSession::server(*server);
  c.client->write("GET / HTTP/1.1\r\n");
  c.client->write("Host: a.test\r\n\r\n");
  EXPECT_FALSE(c.client->handshakeDone());
  EXPECT_EQ(c.client->heldBytes(), 32u);  // counted for backpressure while held
  EXPECT_EQ(c.client->bufferedBytes(), 32u + c.client->pendingOutputBytes());
  c.pump();
  ASSERT_TRUE(c.established());
  EXPECT_EQ(c.client->heldBytes(), 0u);
  EXPECT_EQ(c.client->bufferedBytes(), 0u);
  EXPECT_EQ(c.server_received, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
}

TEST_F(TlsSessionTest, ShutdownSendsCloseNotifyAndTheRestIsDropped) {
  Connection c = connect(*server, *client, "a.test");
  ASSERT_TRUE(c.established());
  c.client->write("last words");
  c.client->shutdown();
  c.client->write("after shutdown");
  c.pump();
  EXPECT_EQ(c.server_received, "last words");
  EXPECT_EQ(c.server_status, Status::Closed);
  c.server->shutdown();
  c.pump();
  EXPECT_EQ(c.client_status, Status::Closed);
}

TEST_F(TlsSessionTest, StaplesTheOcspResponseForTheFirstCertificate) {
  ServerTlsConfig config;
  config.certificates = {{certs.path("a.crt"), certs.path("a.key")},
                         {certs.path("b.crt"), certs.path("b.key")}};
  config.ocsp_staple_file = certs.path("a.ocsp.der");
  auto stapling = makeServer(config);
  std::ifstream in(certs.path("a.ocsp.der"), std::ios::binary);
  const std::string der((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  RawTlsClient asks({.sni = "a.test", .request_ocsp = true});
  auto session = TlsSession::server(*stapling);
  EXPECT_EQ(rawHandshake(asks, *session), Status::Ok);
  EXPECT_TRUE(asks.ocspResponse() == der);

  RawTlsClient other({.sni = "b.test", .request_ocsp = true});  // not the stapled certificate
  session = TlsSession::server(*stapling);
  EXPECT_EQ(rawHandshake(other, *session), Status::Ok);
  EXPECT_EQ(other.ocspResponse(), "");
}

}  // namespace
}  // namespace weir::tls::testing
