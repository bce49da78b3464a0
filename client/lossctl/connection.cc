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

ABSL_FLAG(std::string, target, "localhost:50051",
          "lossd address host:port. bench takes a comma list and balances "
          "round-robin over it.");
ABSL_FLAG(absl::Duration, timeout, absl::ZeroDuration(),
          "Deadline of each call, e.g. 500ms or 10s. 0 means the command's "
          "default: health 1s, list and compute 30s, bench 10s.");

namespace lossctl {
namespace {

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

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& channel_target,
                                           int connection_index) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(-1);
  arguments.SetMaxSendMessageSize(-1);
  arguments.SetLoadBalancingPolicyName("round_robin");
  if (connection_index >= 0) {
    // A private subchannel pool (and a distinct argument set) keeps gRPC
    // from sharing one TCP connection between channels.
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    arguments.SetInt("lossctl.connection_index", connection_index);
  }
  return grpc::CreateCustomChannel(
      channel_target, grpc::InsecureChannelCredentials(), arguments);
}

absl::Duration TimeoutOr(absl::Duration fallback) {
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  return timeout > absl::ZeroDuration() ? timeout : fallback;
}

std::string TargetFlag() { return absl::GetFlag(FLAGS_target); }

}  // namespace lossctl
