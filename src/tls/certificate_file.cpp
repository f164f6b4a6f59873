#include "tls/certificate_file.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>

#include "tls/tls_settings.h"

namespace weir::tls {
namespace {

Error fileError(const std::string& path, const std::string& what) {
  return Error{ErrorCode::InvalidArgument, Side::Internal, false, path + ": " + what};
}

// Never prompt on the terminal for a passphrase: an encrypted key is a config error.
int refusePassphrase(char*, int, int, void*) { return 0; }

Result<BioPtr> openFile(const std::string& path) {
  ERR_clear_error();
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    const int err = errno;
    ERR_clear_error();
    return fileError(path, std::string("cannot read: ") + (err ? std::strerror(err) : "unknown"));
  }
  return bio;
}

std::string timeText(const ASN1_TIME* t) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || ASN1_TIME_print(bio.get(), t) != 1) return "?";
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string asn1Text(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

}  // namespace

Result<CertificateFile> CertificateFile::load(const std::string& cert_path,
                                              const std::string& key_path) {
  CertificateFile f;
  f.cert_path = cert_path;
  f.key_path = key_path;

  auto cert_bio = openFile(cert_path);
  if (!cert_bio) return cert_bio.error();
  f.leaf.reset(PEM_read_bio_X509(cert_bio->get(), nullptr, refusePassphrase, nullptr));
  if (!f.leaf) {
    ERR_clear_error();
    return fileError(cert_path, "no PEM certificate found");
  }
  f.chain.reset(sk_X509_new_null());
  while (X509* extra = PEM_read_bio_X509(cert_bio->get(), nullptr, refusePassphrase, nullptr)) {
    sk_X509_push(f.chain.get(), extra);
  }
  // The loop ends on "no start line" at end of file; anything else is a damaged PEM block.
  const unsigned long last = ERR_peek_last_error();
  if (last && !(ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE)) {
    return fileError(cert_path, "bad PEM certificate after the first: " + takeOpenSslErrors());
  }
  ERR_clear_error();

  auto key_bio = openFile(key_path);
  if (!key_bio) return key_bio.error();
  f.key.reset(PEM_read_bio_PrivateKey(key_bio->get(), nullptr, refusePassphrase, nullptr));
  if (!f.key) {
    ERR_clear_error();
    return fileError(key_path, "no PEM private key found (encrypted keys are not supported)");
  }
  if (X509_check_private_key(f.leaf.get(), f.key.get()) != 1) {
    ERR_clear_error();
    return fileError(key_path, "private key does not match the certificate in " + cert_path);
  }
  f.names = certificateNames(f.leaf.get());
  return f;
}

std::optional<std::string> CertificateFile::validityWarning() const {
  const ASN1_TIME* not_after = X509_get0_notAfter(leaf.get());
  const ASN1_TIME* not_before = X509_get0_notBefore(leaf.get());
  if (X509_cmp_current_time(not_after) < 0) {
    return cert_path + ": certificate expired on " + timeText(not_after);
  }
  if (X509_cmp_current_time(not_before) > 0) {
    return cert_path + ": certificate is not valid before " + timeText(not_before);
  }
  return std::nullopt;
}

std::string CertificateFile::keyType() const {
  const char* name = EVP_PKEY_get0_type_name(key.get());
  return name ? name : "unknown";
}

std::vector<std::string> certificateNames(const X509* cert) {
  std::vector<std::string> names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type == GEN_DNS) names.push_back(normalizeHostName(asn1Text(gn->d.dNSName)));
    }
    GENERAL_NAMES_free(sans);
  }
  if (!names.empty()) return names;
  const X509_NAME* subject = X509_get_subject_name(cert);
  const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at >= 0) {
    const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
    unsigned char* utf8 = nullptr;
    const int n = ASN1_STRING_to_UTF8(&utf8, cn);
    if (n > 0) names.push_back(normalizeHostName(std::string(reinterpret_cast<char*>(utf8), n)));
    OPENSSL_free(utf8);
  }
  ERR_clear_error();
  return names;
}

std::string subjectText(const X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
    return {};
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace weir::tls
