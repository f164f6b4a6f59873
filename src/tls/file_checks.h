// Loading and checking the files of TLS configs. The CA bundle and OCSP response loaders here are
// the ones ServerTlsContext::create() uses, so a config check and create() say the same thing;
// fileProblems() checks every file a ServerTlsContext or ClientTlsContext would read, up front, so
// that a config check (`weir -t`, a reload) reports each unreadable or broken file at once, where
// the contexts' create() stops at the first. Blocking reads: control thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "tls/client_tls_context.h"
#include "tls/openssl_ptr.h"
#include "tls/server_tls_context.h"

namespace weir::tls {

/// "PATH: cannot read: REASON" (REASON from errno, e.g. "No such file or directory") when `path`
/// cannot be opened for reading; none when it can.
std::optional<std::string> unreadableFile(const std::string& path);

/// A PEM bundle of CA certificates for verifying client certificates.
struct ClientCaFile {
  X509StorePtr store;      // what client certificates are verified against
  X509NameStackPtr names;  // the CA subjects sent in the CertificateRequest; not empty
};

/// Errors: "PATH: cannot load CA certificates: REASON" (also when the file cannot be read:
/// OpenSSL's reason then), "PATH: no CA certificate found".
Result<ClientCaFile> loadClientCaFile(const std::string& path);

/// The DER bytes of `path` if they are an OCSP response whose status is successful. Errors:
/// "PATH: cannot read: REASON", "PATH: not a DER OCSP response", "PATH: OCSP response status is
/// STATUS".
Result<std::string> loadOcspResponse(const std::string& path);

/// "PATH: ..." unless `path` is a readable PEM bundle of CA certificates that OpenSSL loads.
std::optional<std::string> caFileProblem(const std::string& path);

/// "PATH: ..." unless `path` holds a DER OCSP response whose status is successful.
std::optional<std::string> ocspResponseProblem(const std::string& path);

/// Every problem with the files `config` names, each "FILE: reason", in config order, without
/// repeats: each certificate and its key, client_ca (when client certificates are asked for),
/// the OCSP response. Empty when all of them load; other settings are left to create().
std::vector<std::string> fileProblems(const ServerTlsConfig& config);

/// Same for TLS to upstreams: ca_file (when verifying), client_cert and client_key.
std::vector<std::string> fileProblems(const ClientTlsConfig& config);

}  // namespace weir::tls
