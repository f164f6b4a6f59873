// ServerTlsContext::create: what it loads, what it warns about, what it refuses (naming the file).
#include "tls/server_tls_context.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_certs.h"
#include "tls_test_peers.h"

namespace weir::tls::testing {
namespace {

std::string createError(const ServerTlsConfig& config) {
  auto r = ServerTlsContext::create(config, nullptr);
  return r.ok() ? "created" : r.error().detail;
}

class ServerTlsContextTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(testCerts().error, ""); }
  const TestCerts& certs = testCerts();
};

TEST_F(ServerTlsContextTest, IndexesNamesFromSubjectAltNamesInCertificateOrder) {
  auto ctx = makeServer(serverConfig());
  ASSERT_TRUE(ctx);
  EXPECT_EQ(ctx->names(), (std::vector<std::string>{"a.test", "b.test", "*.w.test"}));
}

TEST_F(ServerTlsContextTest, SelectsExactThenOneLabelWildcardThenDefault) {
  auto ctx = makeServer(serverConfig());
  ASSERT_TRUE(ctx);
  SSL_CTX* a = ctx->sslContextFor("a.test");
  EXPECT_EQ(a, ctx->sslContext());  // the first certificate's names are the default
  EXPECT_NE(ctx->sslContextFor("b.test"), a);
  EXPECT_EQ(ctx->sslContextFor("B.Test."), ctx->sslContextFor("b.test"));
  SSL_CTX* w = ctx->sslContextFor("x.w.test");
  EXPECT_NE(w, a);
  EXPECT_EQ(ctx->sslContextFor("x.y.w.test"), a);
  EXPECT_EQ(ctx->sslContextFor("w.test"), a);
  EXPECT_EQ(ctx->sslContextFor("unknown.test"), a);
}

TEST_F(ServerTlsContextTest, WarnsAboutAnExpiredCertificateButLoadsIt) {
  ServerTlsConfig config = serverConfig();
  config.certificates.push_back({certs.path("expired.crt"), certs.path("expired.key")});
  std::vector<std::string> warnings;
  auto ctx = makeServer(config, &warnings);
  ASSERT_TRUE(ctx);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(contains(warnings[0], certs.path("expired.crt") + ": certificate expired on "));
}

TEST_F(ServerTlsContextTest, ValidCertificatesGiveNoWarning) {
  std::vector<std::string> warnings;
  EXPECT_TRUE(makeServer(serverConfig(), &warnings));
  EXPECT_TRUE(warnings.empty()) << warnings[0];
}

TEST_F(ServerTlsContextTest, WarnsWhenTwoCertificatesOfOneKeyTypeServeTheSameName) {
  ServerTlsConfig config = serverConfig();
  config.certificates.push_back({certs.path("a.crt"), certs.path("a.key")});
  std::vector<std::string> warnings;
  ASSERT_TRUE(makeServer(config, &warnings));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(contains(warnings[0], "a.test already has a RSA certificate"));
}

TEST_F(ServerTlsContextTest, KeyNotMatchingItsCertificateIsAnErrorNamingTheFiles) {
  ServerTlsConfig config;
  config.certificates = {{certs.path("a.crt"), certs.path("b.key")}};
  EXPECT_EQ(createError(config), certs.path("b.key") +
                                     ": private key does not match the certificate in " +
                                     certs.path("a.crt"));
}

TEST_F(ServerTlsContextTest, UnreadableFilesAreErrorsNamingThem) {
  ServerTlsConfig config;
  config.certificates = {{certs.path("missing.crt"), certs.path("a.key")}};
  EXPECT_EQ(createError(config),
            certs.path("missing.crt") + ": cannot read: No such file or directory");
  config.certificates = {{certs.path("a.crt"), certs.path("missing.key")}};
  EXPECT_EQ(createError(config),
            certs.path("missing.key") + ": cannot read: No such file or directory");
  config.certificates = {{certs.path("a.key"), certs.path("a.key")}};
  EXPECT_EQ(createError(config), certs.path("a.key") + ": no PEM certificate found");
  config.certificates = {{certs.path("a.crt"), certs.path("a.crt")}};
  EXPECT_TRUE(contains(createError(config), certs.path("a.crt") + ": no PEM private key found"));
}

TEST_F(ServerTlsContextTest, RefusesUnknownOrTooOldMinimumVersions) {
  ServerTlsConfig config = serverConfig();
  config.min_version = "1.1";
  EXPECT_EQ(createError(config), "min_version: unknown TLS version '1.1' (use 1.2 or 1.3)");
  config.min_version = "1.3";
  EXPECT_EQ(createError(config), "created");
}

TEST_F(ServerTlsContextTest, RefusesIncompleteOrUnusableSettings) {
  ServerTlsConfig config;
  EXPECT_EQ(createError(config), "no certificates configured");
  config = serverConfig();
  config.ciphers = "NO-SUCH-CIPHER";
  EXPECT_EQ(createError(config), "ciphers: no usable TLS 1.2 cipher in 'NO-SUCH-CIPHER'");
  config = serverConfig();
  config.client_auth = ServerTlsConfig::Require;
  EXPECT_EQ(createError(config), "client_auth requires client_ca");
  config.client_ca = certs.path("missing-ca.crt");
  EXPECT_TRUE(contains(createError(config), certs.path("missing-ca.crt") + ": cannot load CA"));
  config = serverConfig();
  config.alpn = {""};
  EXPECT_TRUE(contains(createError(config), "alpn: protocol names must be 1..255 bytes"));
}

TEST_F(ServerTlsContextTest, OcspStapleMustBeASuccessfulDerResponse) {
  ServerTlsConfig config = serverConfig();
  config.ocsp_staple_file = certs.path("a.ocsp.der");
  EXPECT_EQ(createError(config), "created");
  config.ocsp_staple_file = certs.path("a.crt");  // PEM, not DER OCSP
  EXPECT_EQ(createError(config), certs.path("a.crt") + ": not a DER OCSP response");
  const std::string try_later = certs.path("try-later.der");
  std::ofstream(try_later, std::ios::binary) << std::string("\x30\x03\x0a\x01\x03", 5);
  config.ocsp_staple_file = try_later;
  EXPECT_EQ(createError(config), try_later + ": OCSP response status is trylater");
  config.ocsp_staple_file = certs.dir;
  EXPECT_EQ(createError(config), certs.dir + ": cannot read: Is a directory");
}

}  // namespace
}  // namespace weir::tls::testing
