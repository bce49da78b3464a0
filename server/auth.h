// Transport security and caller authentication for lossd: TLS (optionally
// mutual) server credentials from PEM files, and bearer tokens checked on
// the LossService RPCs. Health and reflection stay open so that probes work
// without secrets.

#ifndef LOSSD_SERVER_AUTH_H_
#define LOSSD_SERVER_AUTH_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace lossd::server {

// Checks the `authorization: Bearer <token>` metadata of a call against a
// set of accepted tokens. With no tokens every call is admitted. Thread-safe.
class TokenAuthenticator {
 public:
  TokenAuthenticator() = default;
  explicit TokenAuthenticator(std::vector<std::string> tokens);

  // Reads one token per line; blank lines and lines starting with '#' are
  // skipped. An existing file without tokens is an error (it would
  // silently disable authentication).
  static absl::StatusOr<TokenAuthenticator> FromFile(const std::string& path);

  bool enabled() const { return !tokens_.empty(); }

  // OK, or UNAUTHENTICATED when no bearer token was sent, or
  // PERMISSION_DENIED when it is not one of the accepted tokens.
  // Any API's context (sync or callback).
  grpc::Status Check(const grpc::ServerContextBase& context) const;

 private:
  std::vector<std::string> tokens_;
};

// Insecure credentials when `cert_file` and `key_file` are empty, else TLS
// with that certificate chain and key; with `client_ca_file`, clients must
// present a certificate signed by that CA (mutual TLS).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& cert_file, const std::string& key_file,
    const std::string& client_ca_file);

}  // namespace lossd::server

#endif  // LOSSD_SERVER_AUTH_H_
