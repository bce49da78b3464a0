// `lossctl health`: the Docker HEALTHCHECK and Kubernetes exec probe. It
// must be quick and decisive: one Check call with a short deadline, exit 0
// for SERVING and 1 for anything else (Docker reserves exit code 2).

#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "commands.h"
#include "connection.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "rpc_status.h"

ABSL_FLAG(std::string, service, "",
          "health: the service to ask about; empty means the whole server.");

namespace lossctl {

int RunHealth(const std::vector<std::string>& arguments) {
  if (!arguments.empty()) {
    std::fprintf(stderr, "lossctl health takes no arguments\n");
    return kExitRpcFailed;
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeChannel(TargetFlag());
  if (!channel.ok()) {
    std::fprintf(stderr, "lossctl health: %s\n",
                 std::string(channel.status().message()).c_str());
    return kExitRpcFailed;
  }
  auto stub = grpc::health::v1::Health::NewStub(*channel);
  grpc::ClientContext context;
  context.set_deadline(DeadlineAfter(TimeoutOr(absl::Seconds(1))));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(absl::GetFlag(FLAGS_service));
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return ReportRpcError("health", status);
  const std::string name =
      grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
          response.status());
  std::printf("%s\n", name.c_str());
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING
             ? kExitOk
             : kExitRpcFailed;
}

}  // namespace lossctl
