// `lossctl list`: the registry as the server reports it, as two tables
// (losses, then their options) or as JSON (--format json).

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "commands.h"
#include "connection.h"
#include "google/protobuf/util/json_util.h"
#include "lossd/v1/loss_service.grpc.pb.h"
#include "output_format.h"
#include "rpc_status.h"
#include "text_table.h"

namespace lossctl {
namespace {

namespace v1 = ::lossd::v1;

// "TARGET_KIND_CLASS_INDEX" -> "class_index".
std::string ShortEnumName(const std::string& name, absl::string_view prefix) {
  absl::string_view view = name;
  absl::ConsumePrefix(&view, prefix);
  return absl::AsciiStrToLower(view);
}

std::string Range(const v1::OptionDescriptor& option) {
  if (!option.has_minimum() && !option.has_maximum()) return "-";
  return absl::StrCat(
      option.has_minimum() ? "[" : "(",
      option.has_minimum() ? absl::StrCat(option.minimum()) : "-inf", ", ",
      option.has_maximum() ? absl::StrCat(option.maximum()) : "inf",
      option.has_maximum() ? "]" : ")");
}

void PrintTables(const v1::ListLossesResponse& response) {
  TextTable losses({"LOSS", "TARGETS", "INPUTS (first = default)", "GRADIENT",
                    "PER", "MEAN DIVIDES BY", "DESCRIPTION"});
  TextTable options(
      {"LOSS", "OPTION", "TYPE", "DEFAULT", "RANGE", "DESCRIPTION"});
  for (const v1::LossDescriptor& loss : response.losses()) {
    std::vector<std::string> targets, inputs;
    for (int kind : loss.target_kinds()) {
      targets.push_back(
          ShortEnumName(v1::TargetKind_Name(static_cast<v1::TargetKind>(kind)),
                        "TARGET_KIND_"));
    }
    for (int kind : loss.input_kinds()) {
      inputs.push_back(ShortEnumName(
          v1::InputKind_Name(static_cast<v1::InputKind>(kind)), "INPUT_KIND_"));
    }
    losses.AddRow(
        {loss.name(), absl::StrJoin(targets, ", "), absl::StrJoin(inputs, ", "),
         loss.has_gradient() ? "yes" : "no",
         loss.element_wise() ? "element" : "example",
         ShortEnumName(
             v1::MeanDenominatorRule_Name(loss.mean_denominator_rule()),
             "MEAN_DENOMINATOR_RULE_"),
         loss.description()});
    for (const v1::OptionDescriptor& option : loss.options()) {
      options.AddRow(
          {loss.name(), option.name(),
           ShortEnumName(v1::OptionDescriptor::Type_Name(option.type()),
                         "TYPE_"),
           option.default_value(), Range(option), option.description()});
    }
  }
  std::printf("%s\n", losses.Render().c_str());
  if (options.row_count() > 0) {
    std::printf(
        "Options go in the request's field named after the loss, "
        "e.g. --options '{\"label_smoothing\": 0.1}'.\n\n%s",
        options.Render().c_str());
  }
}

}  // namespace

int RunList(const std::vector<std::string>& arguments) {
  if (!arguments.empty()) {
    return ReportUsageError("list",
                            absl::InvalidArgumentError("takes no arguments"));
  }
  absl::StatusOr<OutputFormat> format = OutputFormatFlag();
  if (!format.ok()) return ReportUsageError("list", format.status());
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeChannelFromFlags(/*default_retries=*/2);
  if (!channel.ok()) return ReportUsageError("list", channel.status());
  absl::StatusOr<std::string> authorization = AuthorizationFromFlags();
  if (!authorization.ok()) {
    return ReportUsageError("list", authorization.status());
  }
  auto stub = v1::LossService::NewStub(*channel);
  grpc::ClientContext context;
  AddAuthorization(*authorization, &context);
  context.set_deadline(DeadlineAfter(TimeoutOr(absl::Seconds(30))));
  v1::ListLossesResponse response;
  const grpc::Status status =
      stub->ListLosses(&context, v1::ListLossesRequest(), &response);
  if (!status.ok()) return ReportRpcError("list", status);
  if (*format == OutputFormat::kJson) {
    std::string json;
    google::protobuf::util::JsonPrintOptions print_options;
    print_options.add_whitespace = true;
    print_options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(response, &json,
                                                      print_options);
    std::printf("%s", json.c_str());
    return kExitOk;
  }
  PrintTables(response);
  return kExitOk;
}

}  // namespace lossctl
