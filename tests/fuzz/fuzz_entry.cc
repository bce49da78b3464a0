#include "fuzz_entry.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "admission.h"
#include "conversion.h"
#include "google/protobuf/stubs/logging.h"
#include "lossd/v1/loss_service.pb.h"
#include "tensor_codec.h"

namespace lossd::fuzz {
namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "lossd fuzz entry: %s\n", what.c_str());
  std::abort();
}

// An output tensor of an OK response holds exactly its shape's bytes.
void CheckTensor(const char* name, const v1::Tensor& tensor) {
  uint64_t elements = 1;
  for (int64_t d : tensor.shape()) {
    if (d < 0) Fail(absl::StrCat(name, " has a negative dimension"));
    elements *= static_cast<uint64_t>(d);
  }
  const size_t element_size = server::DTypeSize(tensor.dtype());
  if (element_size == 0 || tensor.raw().size() != elements * element_size) {
    Fail(absl::StrCat(name, " has ", tensor.raw().size(), " bytes for ",
                      elements, " elements of dtype ", tensor.dtype()));
  }
}

void CheckResponse(const v1::ComputeRequest& request,
                   const v1::ComputeResponse& response) {
  if (response.has_per_example()) {
    CheckTensor("per_example", response.per_example());
  }
  if (response.has_grad_input()) {
    CheckTensor("grad_input", response.grad_input());
    if (!std::equal(response.grad_input().shape().begin(),
                    response.grad_input().shape().end(),
                    request.input().shape().begin(),
                    request.input().shape().end())) {
      Fail("grad_input's shape is not the input's");
    }
  }
  if (response.has_grad_target()) {
    CheckTensor("grad_target", response.grad_target());
  }
}

// Admission refuses a request by the response it would get, costed before
// computing (admission.h): that cost must bound the response's tensors.
void CheckCost(const v1::ComputeRequest& request,
               const v1::ComputeResponse& response) {
  const server::RequestCost cost = server::CostOf(request);
  if (cost.elements < 0 || cost.request_bytes < 0 || cost.response_bytes < 0) {
    Fail("CostOf gave a negative count");
  }
  const size_t sent = response.per_example().raw().size() +
                      response.grad_input().raw().size() +
                      response.grad_target().raw().size();
  if (sent > static_cast<size_t>(cost.response_bytes)) {
    Fail(absl::StrCat("the response has ", sent,
                      " bytes of tensors, more than the ", cost.response_bytes,
                      " admission costed it at"));
  }
}

bool SameLoss(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || a == b;
}

}  // namespace

bool IsProperStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return true;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kResourceExhausted:
      return !status.message().empty();
    default:
      return false;
  }
}

std::optional<absl::Status> RunComputeRequest(const uint8_t* data,
                                              size_t size) {
  static const bool quiet = [] {
    google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*,
                                       int, const std::string&) {});
    return true;
  }();
  (void)quiet;
  if (size > kMaxRequestBytes) return std::nullopt;
  v1::ComputeRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) {
    return std::nullopt;
  }
  v1::ComputeResponse response;
  const absl::Status status = server::ComputeFromProto(request, &response);
  if (!IsProperStatus(status)) {
    Fail(absl::StrCat("improper status ", status.ToString()));
  }
  if (status.ok()) {
    CheckResponse(request, response);
    CheckCost(request, response);
  }

  // The server's own path, which may compute the gradient over the
  // request's input bytes: the same status and the same loss.
  v1::ComputeRequest movable = request;
  v1::ComputeResponse in_place;
  const absl::Status in_place_status =
      server::ComputeFromProtoInPlace(&movable, &in_place);
  if (in_place_status.code() != status.code()) {
    Fail(absl::StrCat(
        "ComputeFromProto: ", status.ToString(),
        " but ComputeFromProtoInPlace: ", in_place_status.ToString()));
  }
  if (status.ok()) {
    CheckResponse(request, in_place);
    if (!SameLoss(response.loss(), in_place.loss())) {
      Fail(absl::StrCat("loss ", response.loss(), " in place ",
                        in_place.loss()));
    }
  }
  return status;
}

}  // namespace lossd::fuzz
