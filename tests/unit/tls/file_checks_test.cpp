// fileProblems: every unreadable or broken file of a TLS config at once, each naming the file.
#include "tls/file_checks.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include "test_certs.h"
#include "tls_test_peers.h"

namespace weir::tls::testing {
namespace {

using Problems = std::vector<std::string>;

class FileChecksTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(testCerts().error, ""); }
  const TestCerts& certs = testCerts();
  std::string missing(const std::string& file) const {
    return certs.path(file) + ": cannot read: No such file or directory";
  }
};

TEST_F(FileChecksTest, GoodConfigsHaveNoProblems) {
  ServerTlsConfig server = serverConfig();
  server.client_ca = certs.path("ca.crt");
  server.client_auth = ServerTlsConfig::Require;
  server.ocsp_staple_file = certs.path("a.ocsp.der");
  EXPECT_EQ(fileProblems(server), Problems{});
  ClientTlsConfig client = clientConfig();
  client.client_cert = certs.path("client.crt");
  client.client_key = certs.path("client.key");
  EXPECT_EQ(fileProblems(client), Problems{});
}

TEST_F(FileChecksTest, ReportsEveryServerFileProblemInConfigOrder) {
  ServerTlsConfig config;
  config.certificates = {{certs.path("a.crt"), certs.path("b.key")},
                         {certs.path("missing.crt"), certs.path("missing.key")},
                         {certs.path("a.key"), certs.path("a.key")},
                         {certs.path("w.crt"), certs.path("w.key")}};
  config.client_ca = certs.path("missing-ca.crt");
  config.client_auth = ServerTlsConfig::Optional;
  config.ocsp_staple_file = certs.path("a.crt");
  EXPECT_EQ(fileProblems(config),
            (Problems{certs.path("b.key") + ": private key does not match the certificate in " +
                          certs.path("a.crt"),
                      missing("missing.crt"), missing("missing.key"),
                      certs.path("a.key") + ": no PEM certificate found", missing("missing-ca.crt"),
                      certs.path("a.crt") + ": not a DER OCSP response"}));
}

TEST_F(FileChecksTest, AFileNamedTwiceIsReportedOnce) {
  ServerTlsConfig config;
  config.certificates = {{certs.path("a.crt"), certs.path("missing.key")},
                         {certs.path("b.crt"), certs.path("missing.key")}};
  EXPECT_EQ(fileProblems(config), Problems{missing("missing.key")});
}

TEST_F(FileChecksTest, ClientCaIsCheckedOnlyWhenClientCertificatesAreAsked) {
  ServerTlsConfig config = serverConfig();
  config.client_ca = certs.path("missing-ca.crt");
  EXPECT_EQ(fileProblems(config), Problems{});  // client_auth None: create() does not read it
}

TEST_F(FileChecksTest, ReportsEveryUpstreamFileProblem) {
  ClientTlsConfig config;
  config.ca_file = certs.path("missing-ca.crt");
  config.client_cert = certs.path("client.crt");
  config.client_key = certs.path("a.key");
  EXPECT_EQ(fileProblems(config),
            (Problems{missing("missing-ca.crt"),
                      certs.path("a.key") + ": private key does not match the certificate in " +
                          certs.path("client.crt")}));
  config.verify = false;  // the CA file is not read then
  EXPECT_EQ(fileProblems(config).size(), 1u);
}

TEST_F(FileChecksTest, ACaFileWithoutCertificatesOrADirectoryIsAProblem) {
  EXPECT_TRUE(contains(caFileProblem(certs.path("a.key")).value_or(""),
                       certs.path("a.key") + ": cannot load CA certificates: "));
  EXPECT_EQ(caFileProblem(certs.dir).value_or(""), certs.dir + ": cannot read: Is a directory");
  EXPECT_EQ(caFileProblem(certs.path("ca.crt")), std::nullopt);
}

TEST_F(FileChecksTest, AClientCaWithNoCaNameToSendIsReportedAsCreateReportsIt) {
  // A "TRUSTED CERTIFICATE" block loads into a store but is no CA name to send to clients.
  const std::string trusted = certs.path("trusted-ca.crt");
  {
    BioPtr in(BIO_new_file(certs.path("ca.crt").c_str(), "r"));
    ASSERT_TRUE(in);
    X509Ptr ca(PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr));
    BioPtr out(BIO_new_file(trusted.c_str(), "w"));
    ASSERT_TRUE(ca && out && PEM_write_bio_X509_AUX(out.get(), ca.get()) == 1);
  }
  EXPECT_EQ(caFileProblem(trusted), std::nullopt);  // enough to verify servers with
  ServerTlsConfig config = serverConfig();
  config.client_ca = trusted;
  config.client_auth = ServerTlsConfig::Require;
  const std::string problem = trusted + ": no CA certificate found";
  EXPECT_EQ(fileProblems(config), Problems{problem});
  auto created = ServerTlsContext::create(config, nullptr);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().detail, problem);
}

}  // namespace
}  // namespace weir::tls::testing
