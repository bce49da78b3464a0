#include "loss_service.h"

#include <chrono>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "conversion.h"
#include "request_log.h"

namespace lossd::server {
namespace {

// The caller's request id: the request field, else the x-request-id
// metadata, else a fresh random one.
std::string RequestId(const grpc::ServerContext& context,
                      const v1::ComputeRequest& request) {
  if (!request.request_id().empty()) return request.request_id();
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("x-request-id"); it != metadata.end()) {
    return std::string(it->second.data(), it->second.size());
  }
  thread_local std::mt19937_64 random(std::random_device{}());
  return absl::StrFormat("%016x", random());
}

std::string ShapeText(const v1::Tensor& tensor) {
  return absl::StrCat("[", absl::StrJoin(tensor.shape(), ","), "]");
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

grpc::Status LossServiceImpl::ComputeOne(grpc::ServerContext* context,
                                         absl::string_view method,
                                         const v1::ComputeRequest& request,
                                         v1::ComputeResponse* response) {
  const auto start = std::chrono::steady_clock::now();
  const std::string request_id = RequestId(*context, request);
  grpc::Status status = authenticator_.Check(*context);
  if (status.ok() && context->IsCancelled()) {
    status = grpc::Status(grpc::StatusCode::CANCELLED,
                          "cancelled before it was computed");
  }
  if (status.ok()) status = ToGrpcStatus(ComputeFromProto(request, response));
  response->set_request_id(request_id);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  LogEvent("request", {{"method", std::string(method)},
                       {"loss", request.loss()},
                       {"shape", ShapeText(request.input())},
                       {"code", std::to_string(status.error_code())},
                       {"seconds", absl::StrFormat("%.6f", seconds)},
                       {"request_id", request_id},
                       {"peer", context->peer()},
                       {"error", status.error_message()}});
  return status;
}

grpc::Status LossServiceImpl::Compute(grpc::ServerContext* context,
                                      const v1::ComputeRequest* request,
                                      v1::ComputeResponse* response) {
  return ComputeOne(context, "Compute", *request, response);
}

grpc::Status LossServiceImpl::ComputeStream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::ComputeResponse, v1::ComputeRequest>* stream) {
  v1::ComputeRequest request;
  v1::ComputeResponse response;
  while (stream->Read(&request)) {
    response.Clear();
    grpc::Status status =
        ComputeOne(context, "ComputeStream", request, &response);
    if (!status.ok()) return status;
    if (!stream->Write(response)) {
      return grpc::Status(grpc::StatusCode::CANCELLED,
                          "the client closed the stream");
    }
  }
  return grpc::Status::OK;
}

grpc::Status LossServiceImpl::ListLosses(grpc::ServerContext* context,
                                         const v1::ListLossesRequest* request,
                                         v1::ListLossesResponse* response) {
  if (grpc::Status status = authenticator_.Check(*context); !status.ok()) {
    return status;
  }
  DescribeLosses(response);
  return grpc::Status::OK;
}

}  // namespace lossd::server
