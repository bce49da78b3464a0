#include "loss_service.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "conversion.h"
#include "request_log.h"

namespace lossd::server {
namespace {

// A fresh random-looking id: a counter through the SplitMix64 mixer, from a
// random start. Not a per-thread generator: the sync server starts and ends
// threads all the time, and seeding a generator on each new thread cost more
// than a small request's computation.
uint64_t NextRandomId() {
  static const uint64_t seed = std::random_device{}() * 0x9e3779b97f4a7c15ull;
  static std::atomic<uint64_t> counter{0};
  uint64_t z = seed + 0x9e3779b97f4a7c15ull *
                          counter.fetch_add(1, std::memory_order_relaxed);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The caller's request id: the request field, else the x-request-id
// metadata, else a fresh random one.
std::string RequestId(const grpc::ServerContext& context,
                      const v1::ComputeRequest& request) {
  if (!request.request_id().empty()) return request.request_id();
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("x-request-id"); it != metadata.end()) {
    return std::string(it->second.data(), it->second.size());
  }
  return absl::StrFormat("%016x", NextRandomId());
}

// ServerContext::IsCancelled() on a sync call plucks the call's completion
// queue: a futex round trip that under load cost more than a small request's
// whole computation. Only requests big enough to take a while are checked.
constexpr size_t kCancellationCheckBytes = 1 << 20;

bool WorthACancellationCheck(const v1::ComputeRequest& request) {
  const v1::Tensor& input = request.input();
  const size_t bytes = input.raw().size() + 4 * input.float_values_size() +
                       8 * input.double_values_size();
  return bytes >= kCancellationCheckBytes;
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
  if (status.ok() && WorthACancellationCheck(request) &&
      context->IsCancelled()) {
    status = grpc::Status(grpc::StatusCode::CANCELLED,
                          "cancelled before it was computed");
  }
  if (status.ok()) {
    // The request may give its input bytes to the response (computed over
    // in place). Both callers own a non-const request that nothing reads the
    // input data of afterwards: gRPC's sync API hands Compute a const
    // pointer to its own message, dropped once the call returns, and
    // ComputeStream reads the next message into its local one.
    status = ToGrpcStatus(ComputeFromProtoInPlace(
        const_cast<v1::ComputeRequest*>(&request), response));
  }
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
