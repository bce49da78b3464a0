// Channels to lossd: one target or several behind gRPC's round_robin policy,
// and on request a connection of its own per channel.

#ifndef LOSSCTL_CONNECTION_H_
#define LOSSCTL_CONNECTION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace lossctl {

// Splits "a:1,b:2" into its targets, trimming blanks; empty entries are
// errors.
absl::StatusOr<std::vector<std::string>> SplitTargets(absl::string_view text);

// The channel target for `targets`: one target is used as written (so
// "dns:///svc:50051" still spreads over every address DNS returns); several
// are resolved here and joined as "ipv4:a:1,b:2" (or ipv6:), a static list
// that round_robin balances over.
absl::StatusOr<std::string> ChannelTarget(
    const std::vector<std::string>& targets);

// A channel with the credentials the TLS flags ask for (plaintext without
// them), no message size limits, the round_robin load balancing policy and,
// when `retries` > 0, a service config that retries Compute and ListLosses
// (both idempotent) up to `retries` times on UNAVAILABLE, on whichever
// backend round_robin picks next. Channels made with distinct
// `connection_index` values (>= 0) never share a TCP connection; with -1
// gRPC may share one. Errors: unreadable PEM files, a client certificate
// without its key, `retries` outside [0, kMaxRetries].
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& channel_target, int connection_index = -1,
    int retries = 0);

// gRPC caps a retry policy's maxAttempts at 5: one call and four retries.
inline constexpr int kMaxRetries = 4;

// The service config JSON for `retries` (> 0) retries on UNAVAILABLE.
std::string RetryServiceConfig(int retries);

// A channel to --target (one target, or a comma list balanced round-robin)
// with --retries, or `default_retries` when the flag is -1.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannelFromFlags(
    int default_retries);

// The --retries flag, or `fallback` when it is -1 (the command's default).
// Errors: values outside [-1, kMaxRetries].
absl::StatusOr<int> RetriesOr(int fallback);

// The `authorization` metadata value for --token / --token_file
// ("Bearer <token>"), or empty when neither is set.
absl::StatusOr<std::string> AuthorizationFromFlags();

// Adds the authorization metadata (if any) to a call.
void AddAuthorization(const std::string& authorization,
                      grpc::ClientContext* context);

// The --timeout flag, or `fallback` when it is zero (each command has its
// own sensible default).
absl::Duration TimeoutOr(absl::Duration fallback);

// The --target flag.
std::string TargetFlag();

}  // namespace lossctl

#endif  // LOSSCTL_CONNECTION_H_
