// ClientTlsContext::create: what it refuses, naming the file or the field.
#include "tls/client_tls_context.h"

#include <gtest/gtest.h>

#include "test_certs.h"
#include "tls_test_peers.h"

namespace weir::tls::testing {
namespace {

std::string createError(const ClientTlsConfig& config) {
  auto r = ClientTlsContext::create(config);
  return r.ok() ? "created" : r.error().detail;
}

TEST(ClientTlsContext, RefusesBadSettingsNamingTheFileOrField) {
  const TestCerts& certs = testCerts();
  ASSERT_EQ(certs.error, "");
  ClientTlsConfig config = clientConfig();
  EXPECT_EQ(createError(config), "created");

  config.ca_file = certs.path("missing-ca.crt");
  EXPECT_EQ(createError(config),
            certs.path("missing-ca.crt") + ": cannot read: No such file or directory");
  config.ca_file = certs.path("a.key");
  EXPECT_TRUE(contains(createError(config), certs.path("a.key") + ": cannot load CA"));

  config = clientConfig();
  config.max_version = "1.1";
  EXPECT_EQ(createError(config), "max_version: unknown TLS version '1.1' (use 1.2 or 1.3)");

  config = clientConfig();
  config.client_cert = certs.path("client.crt");
  EXPECT_EQ(createError(config), "client_cert and client_key go together");
  config.client_key = certs.path("a.key");
  EXPECT_EQ(createError(config), certs.path("a.key") +
                                     ": private key does not match the certificate in " +
                                     certs.path("client.crt"));
}

TEST(ClientTlsContext, UnverifiedContextNeedsNoCaAtAll) {
  ClientTlsConfig config;
  config.verify = false;
  config.ca_file = "/nonexistent/ca.crt";  // ignored when not verifying
  EXPECT_EQ(createError(config), "created");
}

}  // namespace
}  // namespace weir::tls::testing
