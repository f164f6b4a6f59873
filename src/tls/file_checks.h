// File checks for TLS configs: every file a ServerTlsContext or ClientTlsContext would read,
// checked up front so that a config check (`weir -t`, a reload) reports each unreadable or broken
// file at once, where the contexts' create() stops at the first. Blocking reads: control thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tls/client_tls_context.h"
#include "tls/server_tls_context.h"

namespace weir::tls {

/// "PATH: cannot read: REASON" (REASON from errno, e.g. "No such file or directory") when `path`
/// cannot be opened for reading; none when it can.
std::optional<std::string> unreadableFile(const std::string& path);

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
