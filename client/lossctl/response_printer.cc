#include "response_printer.h"

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "csv_tensor.h"
#include "file_io.h"
#include "host_tensor.h"
#include "json_tensor.h"
#include "npy.h"

namespace lossctl {
namespace {

namespace v1 = ::lossd::v1;

std::string Number(double value) { return absl::StrFormat("%.8g", value); }

// JSON has no NaN: the loss of an empty mean is written as the string.
nlohmann::json JsonNumber(double value) {
  if (std::isfinite(value)) return value;
  return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
}

}  // namespace

absl::StatusOr<std::string> ResponseAsText(const v1::ComputeResponse& response,
                                           const std::string& grad_path) {
  std::string out;
  auto line = [&](absl::string_view name, absl::string_view value) {
    absl::StrAppendFormat(&out, "%-12s %s\n", name, value);
  };
  line("loss", Number(response.loss()));
  line("reduction", v1::Reduction_Name(response.reduction()));
  const v1::ReductionStatistics& stats = response.statistics();
  line("loss_sum", Number(stats.loss_sum()));
  line("denominator", Number(stats.denominator()));
  line("valid_count", absl::StrCat(stats.valid_count()));
  line("weight_sum", Number(stats.weight_sum()));
  if (response.has_per_example()) {
    absl::StatusOr<HostTensor> per_example =
        FromProto(response.per_example(), "per_example");
    if (!per_example.ok()) return per_example.status();
    const std::vector<double> values = ToDoubles(*per_example);
    line("per_example",
         absl::StrCat("[",
                      absl::StrJoin(values, ", ",
                                    [](std::string* o, double v) {
                                      o->append(Number(v));
                                    }),
                      "]  shape ", ShapeText(per_example->shape)));
  }
  if (!grad_path.empty() && grad_path != "-" && response.has_grad_input()) {
    line("grad_input",
         absl::StrCat("written to ", grad_path, " (",
                      DTypeShortName(response.grad_input().dtype()), ", shape ",
                      ShapeText(std::vector<int64_t>(
                          response.grad_input().shape().begin(),
                          response.grad_input().shape().end())),
                      ")"));
  }
  if (!response.request_id().empty()) line("request_id", response.request_id());
  return out;
}

absl::StatusOr<std::string> ResponseAsJson(const v1::ComputeResponse& response,
                                           bool include_grad) {
  nlohmann::ordered_json out;  // Keys in the order written, for people.
  out["loss"] = JsonNumber(response.loss());
  out["reduction"] = v1::Reduction_Name(response.reduction());
  const v1::ReductionStatistics& stats = response.statistics();
  out["statistics"] = {{"loss_sum", JsonNumber(stats.loss_sum())},
                       {"denominator", JsonNumber(stats.denominator())},
                       {"valid_count", stats.valid_count()},
                       {"weight_sum", JsonNumber(stats.weight_sum())}};
  if (response.has_per_example()) {
    absl::StatusOr<HostTensor> per_example =
        FromProto(response.per_example(), "per_example");
    if (!per_example.ok()) return per_example.status();
    out["per_example"] = TensorToJson(*per_example);
  }
  if (include_grad && response.has_grad_input()) {
    absl::StatusOr<HostTensor> grad =
        FromProto(response.grad_input(), "grad_input");
    if (!grad.ok()) return grad.status();
    out["grad_input"] = TensorToJson(*grad);
  }
  out["request_id"] = response.request_id();
  return out.dump(2) + "\n";
}

absl::Status WriteGradient(const v1::ComputeResponse& response,
                           const std::string& path) {
  if (!response.has_grad_input()) {
    return absl::FailedPreconditionError(
        "the response has no grad_input to write");
  }
  absl::StatusOr<HostTensor> grad =
      FromProto(response.grad_input(), "grad_input");
  if (!grad.ok()) return grad.status();
  if (absl::EndsWith(path, ".npy")) return WriteNpyFile(path, *grad);
  if (absl::EndsWith(path, ".csv")) {
    absl::StatusOr<std::string> csv = TensorToCsv(*grad);
    if (!csv.ok()) return csv.status();
    return WriteFile(path, *csv);
  }
  return WriteFile(path, TensorToJson(*grad).dump() + "\n");
}

}  // namespace lossctl
