// Test certificates, made once per test binary run with the `openssl` command line in a temp
// directory that is removed at exit. Each command is bounded by `timeout`; a failure leaves the
// reason in TestCerts::error (tests then fail with it) instead of hanging or aborting.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>

namespace weir::tls::testing {

struct TestCerts {
  // Files in dir:
  //   ca.crt/.key          the CA every good certificate chains to
  //   other-ca.crt         an unrelated CA (verification must fail against it)
  //   a.crt/.key           a.test, RSA, subject CN=a.test,O=rsa
  //   a-ec.crt/.key        a.test, ECDSA P-256, subject CN=a.test,O=ecdsa
  //   b.crt/.key           b.test, via an intermediate CA: b.crt holds leaf + intermediate
  //   w.crt/.key           *.w.test
  //   expired.crt/.key     expired.test, notAfter in the past
  //   client.crt/.key      client.test, clientAuth, signed by ca
  //   a.ocsp.der           a "good" OCSP response for a.crt signed by ca
  std::string dir;
  std::string error;  // empty: every file was made

  std::string path(const std::string& file) const { return dir + "/" + file; }

  TestCerts() = default;
  TestCerts(TestCerts&& other) noexcept : dir(std::move(other.dir)), error(std::move(other.error)) {
    other.dir.clear();
  }
  ~TestCerts() {
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

namespace detail {

inline constexpr const char* kOpenSslConfig = R"(
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_int]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf_a]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:a.test
[leaf_b]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:b.test
[leaf_w]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:*.w.test
[leaf_expired]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:expired.test
[leaf_client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
)";

// Runs each command in `dir` with a time bound; false (and `error` set) at the first failure.
inline bool run(const std::string& dir, std::initializer_list<std::string> commands,
                std::string& error) {
  for (const std::string& cmd : commands) {
    const std::string line = "cd '" + dir + "' && timeout 60 " + cmd + " >>gen.log 2>&1 </dev/null";
    if (std::system(line.c_str()) != 0) {
      std::ifstream log(dir + "/gen.log");
      std::stringstream text;
      text << log.rdbuf();
      error = "command failed: " + cmd + "\n" + text.str();
      return false;
    }
  }
  return true;
}

inline std::string rsaKey(const std::string& out) {
  return "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + out;
}
inline std::string ecKey(const std::string& out) {
  return "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + out;
}
inline std::string selfSigned(const std::string& name, const std::string& subject) {
  return "openssl req -new -x509 -config openssl.cnf -key " + name + ".key -subj '" + subject +
         "' -days 3650 -extensions v3_ca -out " + name + ".crt";
}
inline std::string request(const std::string& name, const std::string& subject) {
  return "openssl req -new -config openssl.cnf -key " + name + ".key -subj '" + subject +
         "' -out " + name + ".csr";
}
inline std::string sign(const std::string& name, const std::string& issuer,
                        const std::string& extensions, int serial, int days = 365) {
  return "openssl x509 -req -in " + name + ".csr -CA " + issuer + ".crt -CAkey " + issuer +
         ".key -set_serial " + std::to_string(serial) + " -days " + std::to_string(days) +
         " -extfile openssl.cnf -extensions " + extensions + " -out " + name + ".crt";
}

inline TestCerts make() {
  TestCerts c;
  std::string tmpl = (std::filesystem::temp_directory_path() / "weir-tls-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    c.error = "mkdtemp failed";
    return c;
  }
  c.dir = tmpl;
  std::ofstream(c.path("openssl.cnf")) << kOpenSslConfig;
  // a.crt gets serial 2: the OCSP index below names it.
  std::ofstream(c.path("index.txt")) << "V\t491231000000Z\t\t02\tunknown\t/CN=a.test/O=rsa\n";
  run(c.dir,
      {rsaKey("ca.key"),
       selfSigned("ca", "/CN=weir-test-ca"),
       ecKey("other-ca.key"),
       selfSigned("other-ca", "/CN=weir-other-ca"),
       ecKey("int.key"),
       request("int", "/CN=weir-test-intermediate"),
       sign("int", "ca", "v3_int", 1, 3650),
       rsaKey("a.key"),
       request("a", "/CN=a.test/O=rsa"),
       sign("a", "ca", "leaf_a", 2),
       ecKey("a-ec.key"),
       request("a-ec", "/CN=a.test/O=ecdsa"),
       sign("a-ec", "ca", "leaf_a", 3),
       ecKey("b.key"),
       "cp b.key b-leaf.key",
       request("b-leaf", "/CN=b.test"),
       sign("b-leaf", "int", "leaf_b", 4),
       "sh -c 'cat b-leaf.crt int.crt > b.crt'",
       ecKey("w.key"),
       request("w", "/CN=*.w.test"),
       sign("w", "ca", "leaf_w", 5),
       ecKey("expired.key"),
       request("expired", "/CN=expired.test"),
       sign("expired", "ca", "leaf_expired", 6, -1),
       ecKey("client.key"),
       request("client", "/CN=client.test/O=tests"),
       sign("client", "ca", "leaf_client", 7),
       "openssl ocsp -issuer ca.crt -cert a.crt -no_nonce -reqout a.ocsp.req",
       "openssl ocsp -index index.txt -rsigner ca.crt -rkey ca.key -CA ca.crt -reqin a.ocsp.req "
       "-respout a.ocsp.der -ndays 1"},
      c.error);
  return c;
}

}  // namespace detail

/// The certificates, made on first use (thread-safe) and shared by every test of the run.
inline const TestCerts& testCerts() {
  static const TestCerts certs = detail::make();
  return certs;
}

}  // namespace weir::tls::testing
