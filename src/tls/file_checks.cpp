#include "tls/file_checks.h"

#include <openssl/ocsp.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "tls/certificate_file.h"

namespace weir::tls {
namespace {

Error fileError(std::string detail) {
  return Error{ErrorCode::InvalidArgument, Side::Internal, false, std::move(detail)};
}

template <typename T>
std::optional<std::string> problemOf(const Result<T>& loaded) {
  if (loaded) return std::nullopt;
  return loaded.error().detail;
}

Result<X509StorePtr> loadCaStore(const std::string& path) {
  ERR_clear_error();
  X509StorePtr store(X509_STORE_new());
  if (!store || X509_STORE_load_file(store.get(), path.c_str()) != 1)
    return fileError(path + ": cannot load CA certificates: " + takeOpenSslErrors());
  return store;
}

// Readable first here: OpenSSL's reason for a missing file is "system lib", without the errno text.
std::optional<std::string> clientCaProblem(const std::string& path) {
  if (auto problem = unreadableFile(path)) return problem;
  return problemOf(loadClientCaFile(path));
}

void add(std::vector<std::string>& out, std::optional<std::string> problem) {
  if (problem && std::find(out.begin(), out.end(), *problem) == out.end())
    out.push_back(std::move(*problem));
}

// Both files are checked for being readable, so a pair with two missing files gives two problems.
void checkCertificate(const std::string& cert, const std::string& key,
                      std::vector<std::string>& out) {
  auto cert_unreadable = unreadableFile(cert);
  auto key_unreadable = unreadableFile(key);
  if (cert_unreadable || key_unreadable) {
    add(out, std::move(cert_unreadable));
    add(out, std::move(key_unreadable));
    return;
  }
  add(out, problemOf(CertificateFile::load(cert, key)));
}

}  // namespace

std::optional<std::string> unreadableFile(const std::string& path) {
  errno = 0;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  int err = errno;
  if (f) {
    std::fgetc(f);  // a directory opens, but does not read
    err = std::ferror(f) ? errno : 0;
    std::fclose(f);
    if (err == 0) return std::nullopt;
  }
  return path + ": cannot read: " + (err ? std::strerror(err) : "unknown error");
}

Result<ClientCaFile> loadClientCaFile(const std::string& path) {
  auto store = loadCaStore(path);
  if (!store) return store.error();
  X509NameStackPtr names(SSL_load_client_CA_file(path.c_str()));
  ERR_clear_error();
  if (!names || sk_X509_NAME_num(names.get()) == 0)
    return fileError(path + ": no CA certificate found");
  return ClientCaFile{std::move(*store), std::move(names)};
}

Result<std::string> loadOcspResponse(const std::string& path) {
  if (auto problem = unreadableFile(path)) return fileError(std::move(*problem));
  std::ifstream in(path, std::ios::binary);
  std::string der((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  OCSP_RESPONSE* response = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size()));
  if (!response) {
    ERR_clear_error();
    return fileError(path + ": not a DER OCSP response");
  }
  const int status = OCSP_response_status(response);
  OCSP_RESPONSE_free(response);
  if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL)
    return fileError(path + ": OCSP response status is " + OCSP_response_status_str(status));
  return der;
}

std::optional<std::string> caFileProblem(const std::string& path) {
  if (auto problem = unreadableFile(path)) return problem;
  return problemOf(loadCaStore(path));
}

std::optional<std::string> ocspResponseProblem(const std::string& path) {
  return problemOf(loadOcspResponse(path));
}

std::vector<std::string> fileProblems(const ServerTlsConfig& config) {
  std::vector<std::string> out;
  for (const CertificateSpec& spec : config.certificates)
    checkCertificate(spec.cert_file, spec.key_file, out);
  if (config.client_auth != ServerTlsConfig::None && !config.client_ca.empty())
    add(out, clientCaProblem(config.client_ca));
  if (!config.ocsp_staple_file.empty()) add(out, ocspResponseProblem(config.ocsp_staple_file));
  return out;
}

std::vector<std::string> fileProblems(const ClientTlsConfig& config) {
  std::vector<std::string> out;
  if (config.verify && !config.ca_file.empty()) add(out, caFileProblem(config.ca_file));
  if (!config.client_cert.empty() && !config.client_key.empty())
    checkCertificate(config.client_cert, config.client_key, out);
  return out;
}

}  // namespace weir::tls
