// `lossctl compute`: one Compute call. The request comes from an optional
// JSON document (the positional argument, inline or @FILE) overridden by
// flags; the loss and statistics go to stdout, the gradient to --grad_out.

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "commands.h"
#include "connection.h"
#include "file_io.h"
#include "lossd/v1/loss_service.grpc.pb.h"
#include "output_format.h"
#include "request_flags.h"
#include "response_printer.h"
#include "rpc_status.h"
#include "tensor_argument.h"

ABSL_FLAG(std::string, input, "",
          "compute: the input tensor: inline JSON ([[4, 2, 1], [0, 5, 1]]), "
          "@FILE.json, a .npy file, or a .csv file (one row per line; one "
          "column is a 1-D tensor).");
ABSL_FLAG(std::string, labels, "",
          "compute: the target tensor (ComputeRequest.target): class indices "
          "(JSON integers), soft labels, multi-label 0/1 or values. Same "
          "forms as --input.");
ABSL_FLAG(std::string, sample_weight, "",
          "compute: optional per-example weights. Same forms as --input.");
ABSL_FLAG(std::string, grad_out, "",
          "compute: ask for d loss / d input and write it here: FILE.npy, "
          "FILE.csv, FILE.json, or - for JSON on stdout.");
ABSL_FLAG(std::string, save_request, "",
          "compute: write the ComputeRequest (protobuf binary) to this file, "
          "for `lossctl bench --request`.");
ABSL_FLAG(bool, dry_run, false,
          "compute: build (and --save_request) the request but do not send "
          "it.");
ABSL_FLAG(std::string, request_id, "",
          "compute: the request id echoed by the server and logged.");

namespace lossctl {
namespace {

absl::Status BuildSpec(const std::vector<std::string>& arguments,
                       ComputeSpec* spec) {
  if (arguments.size() > 1) {
    return absl::InvalidArgumentError(
        "takes at most one argument, the JSON request (inline or @FILE)");
  }
  if (arguments.size() == 1) {
    absl::StatusOr<nlohmann::json> document =
        ReadJsonArgument(arguments[0], "the request");
    if (!document.ok()) return document.status();
    if (absl::Status s = ApplyRequestDocument(*document, spec); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = ApplyRequestFlags(spec); !s.ok()) return s;
  struct TensorFlag {
    std::string text;
    const char* field;
    std::optional<TensorArgument>* slot;
  };
  for (const TensorFlag& flag :
       {TensorFlag{absl::GetFlag(FLAGS_input), "input", &spec->input},
        TensorFlag{absl::GetFlag(FLAGS_labels), "target", &spec->target},
        TensorFlag{absl::GetFlag(FLAGS_sample_weight), "sample_weight",
                   &spec->sample_weight}}) {
    if (flag.text.empty()) continue;
    absl::StatusOr<TensorArgument> tensor =
        ReadTensorArgument(flag.text, flag.field);
    if (!tensor.ok()) return tensor.status();
    *flag.slot = *std::move(tensor);
  }
  if (!absl::GetFlag(FLAGS_grad_out).empty()) spec->grad_input = true;
  if (const std::string id = absl::GetFlag(FLAGS_request_id); !id.empty()) {
    spec->request_id = id;
  }
  return absl::OkStatus();
}

}  // namespace

int RunCompute(const std::vector<std::string>& arguments) {
  absl::StatusOr<OutputFormat> format = OutputFormatFlag();
  if (!format.ok()) return ReportUsageError("compute", format.status());
  ComputeSpec spec;
  if (absl::Status s = BuildSpec(arguments, &spec); !s.ok()) {
    return ReportUsageError("compute", s);
  }
  absl::StatusOr<v1::ComputeRequest> request = BuildComputeRequest(spec);
  if (!request.ok()) return ReportUsageError("compute", request.status());
  if (const std::string path = absl::GetFlag(FLAGS_save_request);
      !path.empty()) {
    if (absl::Status s = WriteFile(path, request->SerializeAsString());
        !s.ok()) {
      return ReportUsageError("compute", s);
    }
  }
  if (absl::GetFlag(FLAGS_dry_run)) return kExitOk;

  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeChannelFromFlags(/*default_retries=*/2);
  if (!channel.ok()) return ReportUsageError("compute", channel.status());
  absl::StatusOr<std::string> authorization = AuthorizationFromFlags();
  if (!authorization.ok()) {
    return ReportUsageError("compute", authorization.status());
  }
  auto stub = v1::LossService::NewStub(*channel);
  grpc::ClientContext context;
  AddAuthorization(*authorization, &context);
  context.set_deadline(DeadlineAfter(TimeoutOr(absl::Seconds(30))));
  v1::ComputeResponse response;
  const grpc::Status status = stub->Compute(&context, *request, &response);
  if (!status.ok()) return ReportRpcError("compute", status);

  const std::string grad_out = absl::GetFlag(FLAGS_grad_out);
  absl::StatusOr<std::string> printed =
      *format == OutputFormat::kJson
          ? ResponseAsJson(response, /*include_grad=*/grad_out == "-")
          : ResponseAsText(response, grad_out);
  if (!printed.ok()) return ReportUsageError("compute", printed.status());
  if (!grad_out.empty() && grad_out != "-") {
    if (absl::Status s = WriteGradient(response, grad_out); !s.ok()) {
      return ReportUsageError("compute", s);
    }
  }
  std::fputs(printed->c_str(), stdout);
  if (grad_out == "-" && *format == OutputFormat::kText) {
    if (absl::Status s = WriteGradient(response, "-"); !s.ok()) {
      return ReportUsageError("compute", s);
    }
  }
  return kExitOk;
}

}  // namespace lossctl
