// CertificateFile: a certificate chain and its private key read from PEM files, checked (the key
// matches, validity dates) with its host names extracted. Built at start-up or reload, on the
// control thread; internal to src/tls.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "tls/openssl_ptr.h"

namespace weir::tls {

struct CertificateFile {
  std::string cert_path;
  std::string key_path;
  X509Ptr leaf;
  X509StackPtr chain;  // intermediates after the leaf, in file order; maybe empty
  EvpPkeyPtr key;
  std::vector<std::string> names;  // certificateNames(leaf)

  /// Errors name the file: unreadable, no PEM certificate/key in it, encrypted key (no
  /// passphrase support), key not matching the certificate.
  static Result<CertificateFile> load(const std::string& cert_path, const std::string& key_path);

  /// "cert.pem: certificate expired on <date>" or "... is not valid before <date>"; none if valid.
  std::optional<std::string> validityWarning() const;
  /// OpenSSL's key type name: "RSA", "EC", "ED25519", ...
  std::string keyType() const;
};

/// DNS names a certificate serves: subjectAltName dNSName entries, else the subject CN.
/// Lower case, trailing dot removed.
std::vector<std::string> certificateNames(const X509* cert);

/// Subject in RFC 2253 form, e.g. "O=rsa,CN=a.test".
std::string subjectText(const X509* cert);

}  // namespace weir::tls
