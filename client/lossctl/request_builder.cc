#include "request_builder.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"

namespace lossctl {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using nlohmann::json;

// Finds a value of `descriptor` by its full name ("REDUCTION_MEAN") or by
// the part after `prefix` ("mean"), case-insensitively.
absl::StatusOr<int> ParseEnum(const EnumDescriptor* descriptor,
                              absl::string_view prefix, absl::string_view text,
                              absl::string_view what) {
  std::string upper = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
  if (!absl::StartsWith(upper, prefix)) upper = absl::StrCat(prefix, upper);
  std::vector<std::string> names;
  for (int i = 0; i < descriptor->value_count(); ++i) {
    const auto* value = descriptor->value(i);
    if (value->number() == 0) continue;  // UNSPECIFIED: not a choice.
    if (value->name() == upper) return value->number();
    names.push_back(absl::AsciiStrToLower(value->name().substr(prefix.size())));
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown ", what, " \"", text,
                                                 "\"; use one of ",
                                                 absl::StrJoin(names, ", ")));
}

absl::StatusOr<TensorArgument> DocumentTensor(const json& document,
                                              const char* key) {
  return TensorArgumentFromJson(document.at(key), key);
}

// Decides the dtype of a JSON tensor: its explicit dtype, else booleans as
// BOOL, integers as INT64 when `integers_are_indices`, else `float_dtype`.
absl::StatusOr<HostTensor> Resolve(const TensorArgument& argument,
                                   v1::DType float_dtype,
                                   bool integers_are_indices,
                                   absl::string_view field) {
  if (argument.exact) return *argument.exact;
  const JsonTensor& tensor = *argument.json;
  v1::DType dtype = float_dtype;
  if (tensor.dtype) {
    dtype = *tensor.dtype;
  } else if (tensor.all_booleans) {
    dtype = v1::DTYPE_BOOL;
  } else if (integers_are_indices && tensor.all_integers) {
    dtype = v1::DTYPE_INT64;
  }
  return ToHostTensor(tensor, dtype, field);
}

absl::Status OptionError(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("options.", path, ": ", what));
}

absl::Status SetField(const json& value, const FieldDescriptor* field,
                      Message* options) {
  const Reflection* reflection = options->GetReflection();
  const std::string& name = field->name();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      if (!value.is_number()) return OptionError(name, "expected a number");
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        reflection->SetDouble(options, field, value.get<double>());
      } else {
        reflection->SetFloat(options, field, value.get<float>());
      }
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_INT32:
      if (!value.is_number_integer()) {
        return OptionError(name, "expected an integer");
      }
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_INT64) {
        reflection->SetInt64(options, field, value.get<int64_t>());
      } else {
        reflection->SetInt32(options, field, value.get<int32_t>());
      }
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_BOOL:
      if (!value.is_boolean())
        return OptionError(name, "expected true or false");
      reflection->SetBool(options, field, value.get<bool>());
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      if (field->message_type() != v1::Tensor::descriptor()) break;
      // Per-class values: sent as float64, the precision options keep.
      absl::StatusOr<TensorArgument> argument =
          TensorArgumentFromJson(value, absl::StrCat("options.", name));
      if (!argument.ok()) return argument.status();
      absl::StatusOr<HostTensor> tensor =
          Resolve(*argument, v1::DTYPE_FLOAT64, /*integers_are_indices=*/false,
                  absl::StrCat("options.", name));
      if (!tensor.ok()) return tensor.status();
      ToProto(*tensor, static_cast<v1::Tensor*>(
                           reflection->MutableMessage(options, field)));
      return absl::OkStatus();
    }
    default:
      break;
  }
  return OptionError(name, "has a type lossctl cannot fill");
}

}  // namespace

absl::StatusOr<v1::Reduction> ParseReduction(absl::string_view text) {
  absl::StatusOr<int> value =
      ParseEnum(v1::Reduction_descriptor(), "REDUCTION_", text, "reduction");
  if (!value.ok()) return value.status();
  return static_cast<v1::Reduction>(*value);
}

absl::StatusOr<v1::InputKind> ParseInputKind(absl::string_view text) {
  absl::StatusOr<int> value =
      ParseEnum(v1::InputKind_descriptor(), "INPUT_KIND_", text, "input_kind");
  if (!value.ok()) return value.status();
  return static_cast<v1::InputKind>(*value);
}

absl::Status ApplyRequestDocument(const json& document, ComputeSpec* spec) {
  if (!document.is_object()) {
    return absl::InvalidArgumentError("the request document must be an object");
  }
  auto string_of = [&](const char* key) -> absl::StatusOr<std::string> {
    if (!document.at(key).is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("request.", key, " must be a string"));
    }
    return document.at(key).get<std::string>();
  };
  for (const auto& [key, value] : document.items()) {
    if (key == "loss") {
      absl::StatusOr<std::string> loss = string_of("loss");
      if (!loss.ok()) return loss.status();
      spec->loss = *loss;
    } else if (key == "input" || key == "target" || key == "sample_weight") {
      absl::StatusOr<TensorArgument> tensor =
          DocumentTensor(document, key.c_str());
      if (!tensor.ok()) return tensor.status();
      (key == "input"    ? spec->input
       : key == "target" ? spec->target
                         : spec->sample_weight) = *std::move(tensor);
    } else if (key == "options") {
      spec->options = value;
    } else if (key == "reduction" || key == "input_kind" || key == "dtype" ||
               key == "grad_dtype" || key == "request_id") {
      absl::StatusOr<std::string> text = string_of(key.c_str());
      if (!text.ok()) return text.status();
      if (key == "reduction") {
        absl::StatusOr<v1::Reduction> reduction = ParseReduction(*text);
        if (!reduction.ok()) return reduction.status();
        spec->reduction = *reduction;
      } else if (key == "input_kind") {
        absl::StatusOr<v1::InputKind> kind = ParseInputKind(*text);
        if (!kind.ok()) return kind.status();
        spec->input_kind = *kind;
      } else if (key == "request_id") {
        spec->request_id = *text;
      } else {
        absl::StatusOr<v1::DType> dtype = ParseDTypeName(*text);
        if (!dtype.ok()) return dtype.status();
        (key == "dtype" ? spec->float_dtype : spec->grad_dtype.emplace()) =
            *dtype;
      }
    } else if (key == "class_axis") {
      if (!value.is_number_integer()) {
        return absl::InvalidArgumentError(
            "request.class_axis must be an integer");
      }
      spec->class_axis = value.get<int>();
    } else if (key == "per_example" || key == "grad_input") {
      if (!value.is_boolean()) {
        return absl::InvalidArgumentError(
            absl::StrCat("request.", key, " must be true or false"));
      }
      (key == "per_example" ? spec->per_example : spec->grad_input) =
          value.get<bool>();
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown request key \"", key,
          "\"; known: loss, input, target, sample_weight, options, reduction, "
          "input_kind, class_axis, dtype, grad_dtype, request_id, "
          "per_example, grad_input"));
    }
  }
  return absl::OkStatus();
}

absl::Status SetLossOptions(const json& options, v1::ComputeRequest* request) {
  if (!options.is_object()) {
    return absl::InvalidArgumentError(
        "options must be a JSON object such as {\"label_smoothing\": 0.1}");
  }
  if (options.empty()) return absl::OkStatus();
  // By the contract's convention the options message of a loss is the
  // `options` oneof member named after it (LossDescriptor.options_field).
  const FieldDescriptor* member =
      v1::ComputeRequest::descriptor()->FindFieldByName(request->loss());
  if (member == nullptr || member->containing_oneof() == nullptr ||
      member->containing_oneof()->name() != "options") {
    return absl::InvalidArgumentError(absl::StrCat(
        "loss \"", request->loss(), "\" takes no options (see lossctl list)"));
  }
  Message* message = request->GetReflection()->MutableMessage(request, member);
  const Descriptor* descriptor = message->GetDescriptor();
  for (const auto& [name, value] : options.items()) {
    const FieldDescriptor* field = descriptor->FindFieldByName(name);
    if (field == nullptr) {
      std::vector<std::string> known;
      for (int i = 0; i < descriptor->field_count(); ++i) {
        known.push_back(descriptor->field(i)->name());
      }
      return absl::InvalidArgumentError(
          absl::StrCat("loss \"", request->loss(), "\" has no option \"", name,
                       "\"; its options: ", absl::StrJoin(known, ", ")));
    }
    if (absl::Status s = SetField(value, field, message); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ComputeRequest> BuildComputeRequest(
    const ComputeSpec& spec) {
  if (spec.loss.empty()) {
    return absl::InvalidArgumentError(
        "no loss given: use --loss NAME or \"loss\" in the request (see "
        "lossctl list)");
  }
  if (!spec.input) return absl::InvalidArgumentError("no input tensor given");
  if (!spec.target) {
    return absl::InvalidArgumentError("no target tensor given (--labels)");
  }
  if (!IsFloatingDType(spec.float_dtype)) {
    return absl::InvalidArgumentError("--dtype must be a floating dtype");
  }
  v1::ComputeRequest request;
  request.set_loss(spec.loss);
  absl::StatusOr<HostTensor> input = Resolve(
      *spec.input, spec.float_dtype, /*integers_are_indices=*/false, "input");
  if (!input.ok()) return input.status();
  // Integer JSON targets are class indices unless they cover the input's
  // whole shape: then they are a dense (one-hot or multi-label) target.
  const bool indices = spec.target->shape() != input->shape;
  absl::StatusOr<HostTensor> target = Resolve(
      *spec.target,
      input->dtype == v1::DTYPE_FLOAT64 ? v1::DTYPE_FLOAT64 : spec.float_dtype,
      indices, "target");
  if (!target.ok()) return target.status();
  ToProto(*input, request.mutable_input());
  ToProto(*target, request.mutable_target());
  if (spec.sample_weight) {
    absl::StatusOr<HostTensor> weight =
        Resolve(*spec.sample_weight, spec.float_dtype, false, "sample_weight");
    if (!weight.ok()) return weight.status();
    ToProto(*weight, request.mutable_sample_weight());
  }
  if (spec.reduction) request.set_reduction(*spec.reduction);
  if (spec.input_kind) request.set_input_kind(*spec.input_kind);
  if (spec.class_axis) request.set_class_axis(*spec.class_axis);
  if (spec.grad_dtype) request.set_grad_dtype(*spec.grad_dtype);
  request.set_request_id(spec.request_id);
  request.mutable_outputs()->set_per_example(
      spec.per_example || spec.reduction == v1::REDUCTION_NONE);
  request.mutable_outputs()->set_grad_input(spec.grad_input);
  if (spec.options) {
    if (absl::Status s = SetLossOptions(*spec.options, &request); !s.ok()) {
      return s;
    }
  }
  return request;
}

}  // namespace lossctl
