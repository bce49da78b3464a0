#include "admission.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "conversion.h"
#include "lossd/registry.h"
#include "tensor_codec.h"

namespace lossd::server {
namespace {

// The elements of `tensor` as sent (its data, not its declared shape), and
// the dtype they are in, or DTYPE_UNSPECIFIED when it cannot be told.
int64_t ElementsSent(const v1::Tensor& tensor, v1::DType* dtype) {
  *dtype = v1::DType_IsValid(tensor.dtype()) ? tensor.dtype()
                                             : v1::DTYPE_UNSPECIFIED;
  if (!tensor.raw().empty()) {
    const size_t size = DTypeSize(*dtype);
    // Unknown dtype: validation refuses it; count low so it gets to.
    return static_cast<int64_t>(tensor.raw().size() / (size == 0 ? 8 : size));
  }
  if (tensor.float_values_size() > 0) {
    if (*dtype == v1::DTYPE_UNSPECIFIED) *dtype = v1::DTYPE_FLOAT32;
    return tensor.float_values_size();
  }
  if (tensor.double_values_size() > 0) {
    if (*dtype == v1::DTYPE_UNSPECIFIED) *dtype = v1::DTYPE_FLOAT64;
    return tensor.double_values_size();
  }
  return tensor.int64_values_size();
}

// The size of the class axis of `request`'s input, or 0 when the shape is
// not usable (validation will say why).
int64_t Classes(const v1::ComputeRequest& request) {
  const auto& shape = request.input().shape();
  if (shape.empty()) return 0;
  int axis = request.has_class_axis() ? request.class_axis() : -1;
  if (axis < 0) axis += shape.size();
  if (axis < 0 || axis >= shape.size()) return 0;
  return std::max<int64_t>(shape[axis], 0);
}

}  // namespace

RequestCost CostOf(const v1::ComputeRequest& request) {
  RequestCost cost;
  cost.request_bytes = static_cast<int64_t>(request.ByteSizeLong());
  v1::DType input_dtype;
  cost.elements = ElementsSent(request.input(), &input_dtype);
  const LossSpec* spec = FindLoss(request.loss());
  if (spec == nullptr) return cost;
  // Costed as asked; a gradient the loss does not have is an error that
  // validation reports, not a cost.
  const RequestedOutputs requested =
      RequestedOutputsOf(request, spec->has_gradient, input_dtype);
  const bool per_example = requested.per_example;
  const bool grad_input = requested.grad_input && spec->has_gradient;
  const bool grad_target = requested.grad_target && spec->has_target_gradient;
  const int64_t output_size =
      IsFloating(requested.dtype)
          ? static_cast<int64_t>(DTypeSize(requested.dtype))
          : 0;
  int64_t outputs = 0;
  if (grad_input) outputs += cost.elements;
  if (grad_target) outputs += cost.elements;
  if (per_example) {
    const int64_t classes = Classes(request);
    outputs += spec->element_wise ? cost.elements
               : classes > 0      ? cost.elements / classes
                                  : 0;
  }
  // At most 3 x 2^61 elements of 8 bytes: no overflow (raw data and repeated
  // fields are far smaller than that).
  cost.response_bytes = outputs * output_size;
  return cost;
}

absl::string_view RefusedLimit(const absl::Status& refusal) {
  const absl::string_view message = refusal.message();
  const size_t start = message.find("--");
  if (start == absl::string_view::npos) return "unknown";
  const size_t end = message.find('=', start);
  if (end == absl::string_view::npos) return "unknown";
  return message.substr(start + 2, end - start - 2);
}

AdmissionTicket& AdmissionTicket::operator=(AdmissionTicket&& other) noexcept {
  if (this != &other) {
    Release();
    admission_ = other.admission_;
    bytes_ = other.bytes_;
    computing_ = other.computing_;
    other.admission_ = nullptr;
    other.bytes_ = 0;
    other.computing_ = false;
  }
  return *this;
}

void AdmissionTicket::DoneComputing() {
  if (admission_ == nullptr || !computing_) return;
  admission_->ReturnRequest();
  computing_ = false;
}

void AdmissionTicket::Release() {
  if (admission_ == nullptr) return;
  DoneComputing();
  admission_->ReturnBytes(bytes_);
  admission_ = nullptr;
  bytes_ = 0;
}

absl::Status Admission::Admit(const RequestCost& cost,
                              AdmissionTicket* ticket) {
  if (cost.elements > limits_.max_elements) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the input has ", cost.elements,
        " elements, more than --max_elements=", limits_.max_elements));
  }
  if (cost.request_bytes > limits_.max_request_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the request has ", cost.request_bytes,
        " bytes, more than --max_request_bytes=", limits_.max_request_bytes));
  }
  if (cost.response_bytes > limits_.max_response_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the response would have ", cost.response_bytes,
        " bytes, more than --max_response_bytes=", limits_.max_response_bytes,
        "; ask for fewer outputs, a smaller grad_dtype or "
        "split the batch"));
  }
  if (cost.bytes() > limits_.max_in_flight_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the request and its response take ", cost.bytes(),
        " bytes, more than --max_in_flight_bytes=", limits_.max_in_flight_bytes,
        " on their own"));
  }
  // Claim first, then check, and give back on failure: concurrent callers
  // never see more admitted than the limits allow.
  const int64_t requests = requests_.fetch_add(1, std::memory_order_relaxed);
  if (requests >= limits_.max_concurrent_requests) {
    requests_.fetch_sub(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(absl::StrCat(
        "too many requests at once: ", requests,
        " being served, the most --max_concurrent_requests=",
        limits_.max_concurrent_requests, " allows; retry with backoff"));
  }
  const int64_t bytes =
      bytes_.fetch_add(cost.bytes(), std::memory_order_relaxed);
  if (bytes + cost.bytes() > limits_.max_in_flight_bytes) {
    bytes_.fetch_sub(cost.bytes(), std::memory_order_relaxed);
    requests_.fetch_sub(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(absl::StrCat(
        "too many bytes at once: ", bytes, " being served and ", cost.bytes(),
        " for this request and its response, more than "
        "--max_in_flight_bytes=",
        limits_.max_in_flight_bytes, "; retry with backoff"));
  }
  *ticket = AdmissionTicket(this, cost.bytes());
  return absl::OkStatus();
}

}  // namespace lossd::server
