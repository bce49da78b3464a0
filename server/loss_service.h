// The lossd.v1.LossService implementation: adapts RPCs to the plain
// functions of conversion.h, logs one line per request, maps errors.

#ifndef LOSSD_SERVER_LOSS_SERVICE_H_
#define LOSSD_SERVER_LOSS_SERVICE_H_

#include <string>

#include "absl/status/status.h"
#include "auth.h"
#include "grpcpp/grpcpp.h"
#include "lossd/v1/loss_service.grpc.pb.h"

namespace lossd::server {

// absl and gRPC share status code numbers; this keeps the message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Thread-safe; holds no per-request state.
class LossServiceImpl final : public v1::LossService::Service {
 public:
  // Every call must pass `authenticator` (by default, one admitting all).
  explicit LossServiceImpl(TokenAuthenticator authenticator = {})
      : authenticator_(std::move(authenticator)) {}

  grpc::Status Compute(grpc::ServerContext* context,
                       const v1::ComputeRequest* request,
                       v1::ComputeResponse* response) override;
  grpc::Status ComputeStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::ComputeResponse, v1::ComputeRequest>* stream)
      override;
  grpc::Status ListLosses(grpc::ServerContext* context,
                          const v1::ListLossesRequest* request,
                          v1::ListLossesResponse* response) override;

 private:
  // Computes one request and logs it; shared by Compute and ComputeStream.
  grpc::Status ComputeOne(grpc::ServerContext* context,
                          absl::string_view method,
                          const v1::ComputeRequest& request,
                          v1::ComputeResponse* response);

  const TokenAuthenticator authenticator_;
};

}  // namespace lossd::server

#endif  // LOSSD_SERVER_LOSS_SERVICE_H_
