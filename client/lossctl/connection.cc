#include "connection.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "file_io.h"

ABSL_FLAG(std::string, target, "localhost:50051",
          "lossd address host:port. compute, list and bench take a comma "
          "list and balance round-robin over it.");
ABSL_FLAG(absl::Duration, timeout, absl::ZeroDuration(),
          "Deadline of each call, e.g. 500ms or 10s. 0 means the command's "
          "default: health 1s, list and compute 30s, bench 10s.");

ABSL_FLAG(int, retries, -1,
          "Retries of a Compute (or ListLosses) call that failed with "
          "UNAVAILABLE (server gone, connection reset, draining), through "
          "gRPC's retry policy: exponential backoff from 50ms to 1s, on the "
          "next backend round_robin picks, within the call's --timeout. 0 "
          "disables, at most 4 (gRPC's cap). -1: the command's default, 2 "
          "for compute and list, 0 for bench (a load test counts failures "
          "rather than hiding them).");
ABSL_FLAG(bool, tls, false,
          "Connect with TLS, trusting the system's roots (or --tls_ca_file).");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM roots that sign the server's certificate; implies --tls.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM client certificate chain for mutual TLS; implies --tls.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file.");
ABSL_FLAG(std::string, tls_server_name, "",
          "The name to check the server's certificate against, when the "
          "target's host is not in it (e.g. an IP address).");
ABSL_FLAG(std::string, token_file, "",
          "File whose first non-blank line is the bearer token sent as "
          "`authorization: Bearer <token>` (health does not need it).");
ABSL_FLAG(std::string, token, "",
          "The bearer token itself (visible in the process list: prefer "
          "--token_file).");

namespace lossctl {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    absl::string_view flag) {
  absl::StatusOr<std::string> pem = ReadFile(path);
  if (!pem.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": ", pem.status().message()));
  }
  return pem;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials() {
  const std::string ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  const std::string cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  const std::string key_file = absl::GetFlag(FLAGS_tls_key_file);
  if (!absl::GetFlag(FLAGS_tls) && ca_file.empty() && cert_file.empty() &&
      key_file.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  if (cert_file.empty() != key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file go together");
  }
  grpc::SslCredentialsOptions options;
  if (!ca_file.empty()) {
    absl::StatusOr<std::string> roots = ReadPem(ca_file, "tls_ca_file");
    if (!roots.ok()) return roots.status();
    options.pem_root_certs = *std::move(roots);
  }
  if (!cert_file.empty()) {
    absl::StatusOr<std::string> chain = ReadPem(cert_file, "tls_cert_file");
    if (!chain.ok()) return chain.status();
    absl::StatusOr<std::string> key = ReadPem(key_file, "tls_key_file");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *std::move(chain);
    options.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(options);
}

struct HostPort {
  std::string host;
  std::string port;
};

absl::StatusOr<HostPort> SplitHostPort(absl::string_view target) {
  absl::string_view rest = target;
  HostPort out;
  if (absl::ConsumePrefix(&rest, "[")) {  // [::1]:50051
    const size_t close = rest.find(']');
    if (close == absl::string_view::npos || close + 1 >= rest.size() ||
        rest[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("target \"", target, "\" is not [host]:port"));
    }
    out.host = std::string(rest.substr(0, close));
    out.port = std::string(rest.substr(close + 2));
  } else {
    const size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("target \"", target, "\" has no :port"));
    }
    out.host = std::string(rest.substr(0, colon));
    out.port = std::string(rest.substr(colon + 1));
  }
  int port;
  if (!absl::SimpleAtoi(out.port, &port) || port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("target \"", target, "\" has no valid port"));
  }
  return out;
}

// Resolves `target` to one address, IPv4 preferred, as "1.2.3.4:p" or
// "[::1]:p"; sets `is_ipv6`.
absl::StatusOr<std::string> Resolve(absl::string_view target, bool* is_ipv6) {
  absl::StatusOr<HostPort> host_port = SplitHostPort(target);
  if (!host_port.ok()) return host_port.status();
  for (int family : {AF_INET, AF_INET6}) {
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host_port->host.c_str(), host_port->port.c_str(), &hints,
                    &found) != 0 ||
        found == nullptr) {
      continue;
    }
    char text[INET6_ADDRSTRLEN] = {};
    const void* address =
        family == AF_INET
            ? static_cast<const void*>(
                  &reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr)
            : static_cast<const void*>(
                  &reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr);
    inet_ntop(family, address, text, sizeof text);
    freeaddrinfo(found);
    *is_ipv6 = family == AF_INET6;
    return *is_ipv6 ? absl::StrCat("[", text, "]:", host_port->port)
                    : absl::StrCat(text, ":", host_port->port);
  }
  return absl::UnavailableError(
      absl::StrCat("cannot resolve \"", host_port->host, "\""));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SplitTargets(absl::string_view text) {
  std::vector<std::string> targets;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--target \"", text, "\" has an empty entry"));
    }
    targets.emplace_back(part);
  }
  return targets;
}

absl::StatusOr<std::string> ChannelTarget(
    const std::vector<std::string>& targets) {
  if (targets.empty()) return absl::InvalidArgumentError("no --target given");
  if (targets.size() == 1) return targets[0];
  std::vector<std::string> addresses;
  int ipv6_count = 0;
  for (const std::string& target : targets) {
    if (absl::StrContains(target, "://") || absl::StartsWith(target, "dns:") ||
        absl::StartsWith(target, "unix:")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "with several targets each must be host:port, not \"", target, "\""));
    }
    bool is_ipv6 = false;
    absl::StatusOr<std::string> address = Resolve(target, &is_ipv6);
    if (!address.ok()) return address.status();
    ipv6_count += is_ipv6;
    addresses.push_back(*std::move(address));
  }
  if (ipv6_count != 0 && ipv6_count != static_cast<int>(addresses.size())) {
    return absl::InvalidArgumentError(
        "several targets must all be IPv4 or all IPv6 (gRPC's static address "
        "lists hold one family)");
  }
  return absl::StrCat(ipv6_count ? "ipv6:" : "ipv4:",
                      absl::StrJoin(addresses, ","));
}

std::string RetryServiceConfig(int retries) {
  // Compute and ListLosses are idempotent: a retry can never apply an
  // effect twice. ComputeStream is left alone (a stream that broke after
  // answering some requests cannot be replayed by gRPC), and so is Health:
  // a probe must see the server as it is.
  return absl::StrCat(
      R"({"methodConfig": [{"name": [)",
      R"({"service": "lossd.v1.LossService", "method": "Compute"}, )",
      R"({"service": "lossd.v1.LossService", "method": "ListLosses"}], )",
      R"("retryPolicy": {"maxAttempts": )", retries + 1,
      R"(, "initialBackoff": "0.05s", "maxBackoff": "1s", )",
      R"("backoffMultiplier": 2, )",
      R"("retryableStatusCodes": ["UNAVAILABLE"]}}]})");
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& channel_target, int connection_index, int retries) {
  if (retries < 0 || retries > kMaxRetries) {
    return absl::InvalidArgumentError(
        absl::StrCat("--retries must be in [0, ", kMaxRetries,
                     "] (gRPC's cap), not ", retries));
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      Credentials();
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments arguments;
  if (const std::string name = absl::GetFlag(FLAGS_tls_server_name);
      !name.empty()) {
    arguments.SetSslTargetNameOverride(name);
  }
  arguments.SetMaxReceiveMessageSize(-1);
  arguments.SetMaxSendMessageSize(-1);
  arguments.SetLoadBalancingPolicyName("round_robin");
  if (retries > 0) {
    arguments.SetServiceConfigJSON(RetryServiceConfig(retries));
    // gRPC keeps a call's request for a retry only up to this many bytes
    // (256 KiB by default) and past it gives up retrying; lossd requests
    // are often larger. The buffer holds references to the request's
    // slices, not a copy.
    arguments.SetInt(GRPC_ARG_PER_RPC_RETRY_BUFFER_SIZE, 1 << 30);
  }
  if (connection_index >= 0) {
    // A private subchannel pool (and a distinct argument set) keeps gRPC
    // from sharing one TCP connection between channels.
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    arguments.SetInt("lossctl.connection_index", connection_index);
  }
  return grpc::CreateCustomChannel(channel_target, *credentials, arguments);
}

absl::StatusOr<std::string> AuthorizationFromFlags() {
  std::string token = absl::GetFlag(FLAGS_token);
  if (const std::string path = absl::GetFlag(FLAGS_token_file); !path.empty()) {
    absl::StatusOr<std::string> contents = ReadFile(path);
    if (!contents.ok()) return contents.status();
    token.clear();
    for (absl::string_view line : absl::StrSplit(*contents, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (!line.empty()) {
        token = std::string(line);
        break;
      }
    }
    if (token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token_file ", path, " holds no token"));
    }
  }
  if (token.empty()) return std::string();
  return absl::StrCat("Bearer ", token);
}

void AddAuthorization(const std::string& authorization,
                      grpc::ClientContext* context) {
  if (!authorization.empty()) {
    context->AddMetadata("authorization", authorization);
  }
}

absl::Duration TimeoutOr(absl::Duration fallback) {
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  return timeout > absl::ZeroDuration() ? timeout : fallback;
}

std::string TargetFlag() { return absl::GetFlag(FLAGS_target); }

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannelFromFlags(
    int default_retries) {
  absl::StatusOr<std::vector<std::string>> targets = SplitTargets(TargetFlag());
  if (!targets.ok()) return targets.status();
  absl::StatusOr<std::string> channel_target = ChannelTarget(*targets);
  if (!channel_target.ok()) return channel_target.status();
  absl::StatusOr<int> retries = RetriesOr(default_retries);
  if (!retries.ok()) return retries.status();
  return MakeChannel(*channel_target, -1, *retries);
}

absl::StatusOr<int> RetriesOr(int fallback) {
  const int retries = absl::GetFlag(FLAGS_retries);
  if (retries < -1 || retries > kMaxRetries) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--retries must be in [0, ", kMaxRetries,
        "] (gRPC's cap) or -1 for the command's default, not ", retries));
  }
  return retries == -1 ? fallback : retries;
}

}  // namespace lossctl
