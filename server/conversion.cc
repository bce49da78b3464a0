#include "conversion.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "lossd/compute.h"
#include "lossd/registry.h"
#include "tensor_codec.h"

namespace lossd::server {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

Reduction FromProto(v1::Reduction reduction) {
  switch (reduction) {
    case v1::REDUCTION_NONE:
      return Reduction::kNone;
    case v1::REDUCTION_SUM:
      return Reduction::kSum;
    case v1::REDUCTION_BATCH_MEAN:
      return Reduction::kBatchMean;
    default:
      return Reduction::kMean;
  }
}

v1::Reduction ToProto(Reduction reduction) {
  switch (reduction) {
    case Reduction::kNone:
      return v1::REDUCTION_NONE;
    case Reduction::kSum:
      return v1::REDUCTION_SUM;
    case Reduction::kMean:
      return v1::REDUCTION_MEAN;
    case Reduction::kBatchMean:
      return v1::REDUCTION_BATCH_MEAN;
  }
  return v1::REDUCTION_UNSPECIFIED;
}

InputKind FromProto(v1::InputKind kind) {
  switch (kind) {
    case v1::INPUT_KIND_PROBABILITIES:
      return InputKind::kProbabilities;
    case v1::INPUT_KIND_LOG_PROBABILITIES:
      return InputKind::kLogProbabilities;
    default:
      return InputKind::kLogits;
  }
}

v1::InputKind ToProto(InputKind kind) {
  switch (kind) {
    case InputKind::kLogits:
      return v1::INPUT_KIND_LOGITS;
    case InputKind::kProbabilities:
      return v1::INPUT_KIND_PROBABILITIES;
    case InputKind::kLogProbabilities:
      return v1::INPUT_KIND_LOG_PROBABILITIES;
  }
  return v1::INPUT_KIND_UNSPECIFIED;
}

v1::TargetKind ToProto(TargetKind kind) {
  switch (kind) {
    case TargetKind::kClassIndex:
      return v1::TARGET_KIND_CLASS_INDEX;
    case TargetKind::kProbabilities:
      return v1::TARGET_KIND_PROBABILITIES;
    case TargetKind::kMultiLabel:
      return v1::TARGET_KIND_MULTI_LABEL;
    case TargetKind::kValues:
      return v1::TARGET_KIND_VALUES;
  }
  return v1::TARGET_KIND_UNSPECIFIED;
}

v1::OptionDescriptor::Type ToProto(OptionType type) {
  switch (type) {
    case OptionType::kNumber:
      return v1::OptionDescriptor::TYPE_NUMBER;
    case OptionType::kInteger:
      return v1::OptionDescriptor::TYPE_INTEGER;
    case OptionType::kBoolean:
      return v1::OptionDescriptor::TYPE_BOOLEAN;
    case OptionType::kPerClass:
      return v1::OptionDescriptor::TYPE_PER_CLASS;
    case OptionType::kChoice:
      return v1::OptionDescriptor::TYPE_CHOICE;
  }
  return v1::OptionDescriptor::TYPE_UNSPECIFIED;
}

v1::DenominatorKind ToProto(DenominatorKind kind) {
  switch (kind) {
    case DenominatorKind::kOne:
      return v1::DENOMINATOR_KIND_ONE;
    case DenominatorKind::kValidExamples:
      return v1::DENOMINATOR_KIND_VALID_EXAMPLES;
    case DenominatorKind::kTargetWeightSum:
      return v1::DENOMINATOR_KIND_TARGET_WEIGHT_SUM;
    case DenominatorKind::kValidElements:
      return v1::DENOMINATOR_KIND_VALID_ELEMENTS;
    case DenominatorKind::kBatchSize:
      return v1::DENOMINATOR_KIND_BATCH_SIZE;
    case DenominatorKind::kNormalizer:
      return v1::DENOMINATOR_KIND_NORMALIZER;
  }
  return v1::DENOMINATOR_KIND_UNSPECIFIED;
}

v1::MeanDenominatorRule ToProto(std::optional<MeanDenominatorRule> rule) {
  if (!rule.has_value()) return v1::MEAN_DENOMINATOR_RULE_UNSPECIFIED;
  switch (*rule) {
    case MeanDenominatorRule::kUnmaskedElements:
      return v1::MEAN_DENOMINATOR_RULE_UNMASKED_ELEMENTS;
    case MeanDenominatorRule::kTargetWeightSum:
      return v1::MEAN_DENOMINATOR_RULE_TARGET_WEIGHT_SUM;
    case MeanDenominatorRule::kNotIgnoredExamples:
      return v1::MEAN_DENOMINATOR_RULE_NOT_IGNORED_EXAMPLES;
    case MeanDenominatorRule::kUnmaskedExamples:
      return v1::MEAN_DENOMINATOR_RULE_UNMASKED_EXAMPLES;
  }
  return v1::MEAN_DENOMINATOR_RULE_UNSPECIFIED;
}

// The choice an enum value stands for: its name less the enum's prefix
// (the enum's name in upper snake case), in lower case. For example
// LABEL_SMOOTHING_RULE_OTHER_CLASSES of LabelSmoothingRule is
// "other_classes". Empty for the UNSPECIFIED (0) value.
std::string ChoiceName(const google::protobuf::EnumValueDescriptor& value) {
  if (value.number() == 0) return "";
  std::string prefix;
  for (char c : value.type()->name()) {
    if (absl::ascii_isupper(c) && !prefix.empty()) prefix += '_';
    prefix += absl::ascii_toupper(c);
  }
  prefix += '_';
  absl::string_view name = value.name();
  absl::ConsumePrefix(&name, prefix);
  return absl::AsciiStrToLower(name);
}

// The ComputeRequest field holding `loss`'s options: by convention the
// `options` oneof member named after the loss.
const FieldDescriptor* OptionsField(absl::string_view loss) {
  const FieldDescriptor* field =
      v1::ComputeRequest::descriptor()->FindFieldByName(std::string(loss));
  if (field == nullptr || field->containing_oneof() == nullptr) return nullptr;
  return field;
}

// Reads the set options message into `values`, field by field through
// reflection: each field is the option of the same name in the registry.
absl::Status ReadOptions(const v1::ComputeRequest& request,
                         const LossSpec& spec, OptionValues* values) {
  const auto* oneof =
      v1::ComputeRequest::descriptor()->FindOneofByName("options");
  const FieldDescriptor* set =
      request.GetReflection()->GetOneofFieldDescriptor(request, oneof);
  if (set == nullptr) return absl::OkStatus();
  if (set->name() != spec.name) {
    return absl::InvalidArgumentError(absl::StrCat(
        "options ", set->name(), " do not apply to loss ", spec.name));
  }
  const Message& options = request.GetReflection()->GetMessage(request, set);
  const auto* reflection = options.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(options, &fields);
  for (const FieldDescriptor* field : fields) {
    const std::string path = absl::StrCat(set->name(), ".", field->name());
    const OptionSpec* option = spec.FindOption(field->name());
    if (option == nullptr) {
      return absl::InternalError(
          absl::StrCat(path, " is not in the loss registry"));
    }
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_DOUBLE:
        values->SetNumber(option->name, reflection->GetDouble(options, field));
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        values->SetNumber(option->name, reflection->GetFloat(options, field));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        values->SetInteger(option->name, reflection->GetInt64(options, field));
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        values->SetInteger(option->name, reflection->GetInt32(options, field));
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        values->SetBoolean(option->name, reflection->GetBool(options, field));
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        // UNSPECIFIED means the default; an unknown number is an error.
        const int number = reflection->GetEnumValue(options, field);
        const auto* value = field->enum_type()->FindValueByNumber(number);
        if (value == nullptr) {
          return absl::InvalidArgumentError(absl::StrCat(
              path, " = ", number, " is not a ", field->enum_type()->name()));
        }
        const std::string choice = ChoiceName(*value);
        if (!choice.empty()) values->SetChoice(option->name, choice);
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        const auto& tensor = static_cast<const v1::Tensor&>(
            reflection->GetMessage(options, field));
        Decoded<double> decoded;
        if (absl::Status s = Decode(tensor, path, &decoded); !s.ok()) return s;
        if (decoded.shape().size() != 1) {
          return absl::InvalidArgumentError(
              absl::StrCat(path, " must have shape [classes]"));
        }
        values->SetPerClass(option->name,
                            std::vector<double>(decoded.values().begin(),
                                                decoded.values().end()));
        break;
      }
      default:
        return absl::InternalError(
            absl::StrCat(path, " has a type the registry cannot hold"));
    }
  }
  return absl::OkStatus();
}

// Room for one output: written in place in the response when its dtype is
// the compute type, else computed in `scratch` and encoded afterwards.
template <typename T>
struct Output {
  absl::Span<T> buffer;
  // Not a std::vector: the library writes every entry, so zeroing it first
  // would be a wasted pass over a possibly large buffer.
  std::unique_ptr<T[]> scratch;
  v1::Tensor* tensor = nullptr;
  std::vector<int64_t> shape;
  v1::DType dtype = v1::DTYPE_UNSPECIFIED;

  void Allocate(int64_t count) {
    if (T* direct = AllocateRaw<T>(count, shape, dtype, tensor)) {
      buffer = absl::MakeSpan(direct, count);
    } else {
      scratch.reset(new T[count]);
      buffer = absl::MakeSpan(scratch.get(), count);
    }
  }
  void Finish() {
    if (scratch != nullptr || buffer.empty()) {
      Encode<T>(buffer, shape, dtype, tensor);
    }
  }
};

std::atomic<int> compute_threads{1};

// `movable`, if not null, is `request` itself, whose input bytes may be
// moved into the response (ComputeFromProtoInPlace).
template <typename T>
absl::Status ComputeTyped(const v1::ComputeRequest& request,
                          v1::ComputeRequest* movable, const LossSpec& spec,
                          v1::DType input_dtype, v1::ComputeResponse* response,
                          std::function<absl::Status()> interrupt) {
  LossRequest<T> lib;
  lib.loss = &spec;
  lib.interrupt = std::move(interrupt);
  lib.threads = compute_threads.load(std::memory_order_relaxed);
  lib.reduction = FromProto(request.reduction());
  lib.input_kind = request.input_kind() == v1::INPUT_KIND_UNSPECIFIED
                       ? spec.input_kinds.front()
                       : FromProto(request.input_kind());
  if (request.has_class_axis()) lib.class_axis = request.class_axis();

  // bfloat16 and float16 input goes to the library as it came (it reads
  // them directly where it can); the rest as T.
  Decoded<T> input;
  std::vector<int64_t> input_shape;
  if constexpr (std::is_same_v<T, float>) {
    Float16TensorView half;
    absl::StatusOr<bool> viewed =
        View16Bit(request.input(), "input", &half.shape, &half.data);
    if (!viewed.ok()) return viewed.status();
    if (*viewed) {
      half.format = input_dtype == v1::DTYPE_BFLOAT16 ? Float16Format::kBFloat16
                                                      : Float16Format::kFloat16;
      input_shape = half.shape;
      lib.input_16bit = std::move(half);
    }
  }
  if (!lib.input_16bit.has_value()) {
    if (absl::Status s = Decode(request.input(), "input", &input); !s.ok()) {
      return s;
    }
    lib.input = input.view();
    input_shape = input.shape();
  }

  // Integer targets are class indices, except UINT8 and BOOL of the input's
  // shape, which are multi-label; floating targets are dense.
  v1::DType target_dtype;
  if (absl::Status s = ResolveDType(request.target(), "target", &target_dtype);
      !s.ok()) {
    return s;
  }
  const bool class_index =
      target_dtype == v1::DTYPE_INT32 || target_dtype == v1::DTYPE_INT64 ||
      (target_dtype == v1::DTYPE_UINT8 &&
       !std::equal(request.target().shape().begin(),
                   request.target().shape().end(), input_shape.begin(),
                   input_shape.end()));
  Decoded<int64_t> index_target;
  Decoded<T> dense_target;
  if (class_index) {
    if (absl::Status s = Decode(request.target(), "target", &index_target);
        !s.ok()) {
      return s;
    }
    lib.class_index_target = index_target.view();
  } else {
    if (absl::Status s = Decode(request.target(), "target", &dense_target);
        !s.ok()) {
      return s;
    }
    lib.dense_target = dense_target.view();
  }
  Decoded<T> sample_weight;
  if (request.has_sample_weight()) {
    if (absl::Status s =
            Decode(request.sample_weight(), "sample_weight", &sample_weight);
        !s.ok()) {
      return s;
    }
    lib.sample_weight = sample_weight.view();
  }
  Decoded<int64_t> mask_values;
  std::vector<uint8_t> mask;
  if (request.has_mask()) {
    if (absl::Status s = Decode(request.mask(), "mask", &mask_values);
        !s.ok()) {
      return s;
    }
    mask.reserve(mask_values.values().size());
    for (int64_t v : mask_values.values()) mask.push_back(v != 0);
    lib.mask = TensorView<uint8_t>{mask, mask_values.shape()};
  }
  Decoded<T> grad_output;
  if (request.has_grad_output()) {
    if (absl::Status s =
            Decode(request.grad_output(), "grad_output", &grad_output);
        !s.ok()) {
      return s;
    }
    lib.grad_output = grad_output.view();
  }
  if (request.has_normalizer()) lib.normalizer = request.normalizer();
  if (request.has_grad_scale()) lib.grad_scale = request.grad_scale();
  lib.empty_mean = request.empty_mean() == v1::EMPTY_MEAN_ZERO
                       ? EmptyMeanPolicy::kZero
                       : EmptyMeanPolicy::kNaN;
  if (absl::Status s = ReadOptions(request, spec, &lib.options); !s.ok()) {
    return s;
  }

  absl::StatusOr<ProblemShape> shape =
      ResolveShape(input_shape, lib.class_axis);
  if (!shape.ok()) return shape.status();

  const RequestedOutputs requested =
      RequestedOutputsOf(request, spec.has_gradient, input_dtype);
  const bool want_per_example = requested.per_example;
  const bool want_grad = requested.grad_input;
  const bool want_grad_target = requested.grad_target;
  const v1::DType output_dtype = requested.dtype;
  if (!IsFloating(output_dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "grad_dtype ", v1::DType_Name(output_dtype), " is not floating"));
  }
  Output<T> per_example{
      .tensor = response->mutable_per_example(),
      .shape = spec.element_wise ? input_shape : shape->example_shape,
      .dtype = output_dtype};
  Output<T> grad{.tensor = response->mutable_grad_input(),
                 .shape = input_shape,
                 .dtype = output_dtype};
  Output<T> grad_target{.tensor = response->mutable_grad_target(),
                        .shape = input_shape,
                        .dtype = output_dtype};
  if (want_per_example) per_example.Allocate(PerExampleSize(spec, *shape));
  const v1::DType native_dtype =
      std::is_same_v<T, float> ? v1::DTYPE_FLOAT32 : v1::DTYPE_FLOAT64;
  if (want_grad && spec.has_gradient && movable != nullptr &&
      input_dtype == native_dtype && output_dtype == native_dtype &&
      lib.input.data.data() ==
          reinterpret_cast<const T*>(movable->input().raw().data())) {
    // The request's own input bytes become the response's gradient and the
    // library computes the gradient over them: no gradient buffer to
    // allocate (and fault in) and fill, and one payload less in memory.
    const int64_t count = shape->elements();
    v1::Tensor* tensor = response->mutable_grad_input();
    tensor->set_dtype(output_dtype);
    tensor->mutable_shape()->Assign(input_shape.begin(), input_shape.end());
    tensor->mutable_raw()->swap(*movable->mutable_input()->mutable_raw());
    T* data = reinterpret_cast<T*>(tensor->mutable_raw()->data());
    lib.input.data = absl::MakeConstSpan(data, count);
    grad.buffer = absl::MakeSpan(data, count);
  } else if (want_grad && spec.has_gradient) {
    grad.Allocate(shape->elements());
  }
  if (want_grad && !spec.has_gradient) {
    return absl::InvalidArgumentError(
        absl::StrCat(spec.name, " has no gradient; do not request grad_input"));
  }
  if (want_grad_target) {
    if (!spec.has_target_gradient) {
      return absl::InvalidArgumentError(absl::StrCat(
          spec.name, " has no target gradient; do not request grad_target"));
    }
    if (!lib.dense_target.has_value()) {
      return absl::InvalidArgumentError(
          "outputs.grad_target needs a floating dense target");
    }
    grad_target.Allocate(shape->elements());
  }

  absl::StatusOr<LossResult> result = Compute<T>(
      lib, LossOutputs<T>{per_example.buffer, grad.buffer, grad_target.buffer});
  if (!result.ok()) return result.status();
  if (want_per_example) per_example.Finish();
  if (want_grad) grad.Finish();
  if (want_grad_target) grad_target.Finish();
  if (!want_per_example) response->clear_per_example();
  if (!want_grad) response->clear_grad_input();
  if (!want_grad_target) response->clear_grad_target();

  response->set_loss(result->loss);
  response->set_reduction(ToProto(lib.reduction));
  v1::ReductionStatistics* stats = response->mutable_statistics();
  stats->set_loss_sum(result->statistics.loss_sum);
  stats->set_denominator(result->statistics.denominator);
  stats->set_valid_count(result->statistics.valid_count);
  stats->set_weight_sum(result->statistics.weight_sum);
  stats->set_denominator_kind(ToProto(result->statistics.denominator_kind));
  return absl::OkStatus();
}

}  // namespace

void SetComputeThreads(int threads) {
  compute_threads.store(threads, std::memory_order_relaxed);
}

namespace {

// ComputeFromProto and ComputeFromProtoInPlace.
absl::Status ComputeFromProtoImpl(const v1::ComputeRequest& request,
                                  v1::ComputeRequest* movable,
                                  v1::ComputeResponse* response,
                                  std::function<absl::Status()> interrupt) {
  if (request.loss().empty()) {
    return absl::InvalidArgumentError("loss is empty; see ListLosses");
  }
  const LossSpec* spec = FindLoss(request.loss());
  if (spec == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("unknown loss \"", request.loss(), "\"; see ListLosses"));
  }
  if (!request.has_input())
    return absl::InvalidArgumentError("input is missing");
  if (!request.has_target()) {
    return absl::InvalidArgumentError("target is missing");
  }
  if (!v1::Reduction_IsValid(request.reduction())) {
    return absl::InvalidArgumentError(
        absl::StrCat("reduction ", request.reduction(), " is not a Reduction"));
  }
  if (!v1::EmptyMean_IsValid(request.empty_mean())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "empty_mean ", request.empty_mean(), " is not an EmptyMean"));
  }
  if (!v1::InputKind_IsValid(request.input_kind())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input_kind ", request.input_kind(), " is not an InputKind"));
  }
  if (!v1::DType_IsValid(request.grad_dtype())) {
    return absl::InvalidArgumentError(
        absl::StrCat("grad_dtype ", request.grad_dtype(), " is not a DType"));
  }
  v1::DType input_dtype;
  if (absl::Status s = ResolveDType(request.input(), "input", &input_dtype);
      !s.ok()) {
    return s;
  }
  if (!IsFloating(input_dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input.dtype ", v1::DType_Name(input_dtype), " is not floating"));
  }
  absl::Status status =
      input_dtype == v1::DTYPE_FLOAT64
          ? ComputeTyped<double>(request, movable, *spec, input_dtype, response,
                                 std::move(interrupt))
          : ComputeTyped<float>(request, movable, *spec, input_dtype, response,
                                std::move(interrupt));
  if (!status.ok()) response->Clear();
  return status;
}

}  // namespace

absl::Status ComputeFromProto(const v1::ComputeRequest& request,
                              v1::ComputeResponse* response) {
  return ComputeFromProtoImpl(request, nullptr, response, {});
}

absl::Status ComputeFromProtoInPlace(v1::ComputeRequest* request,
                                     v1::ComputeResponse* response,
                                     std::function<absl::Status()> interrupt) {
  return ComputeFromProtoImpl(*request, request, response,
                              std::move(interrupt));
}

RequestedOutputs RequestedOutputsOf(const v1::ComputeRequest& request,
                                    bool loss_has_gradient,
                                    v1::DType input_dtype) {
  RequestedOutputs requested;
  if (request.has_outputs()) {
    requested.per_example = request.outputs().per_example();
    requested.grad_input = request.outputs().grad_input();
    requested.grad_target = request.outputs().grad_target();
  } else {
    requested.per_example = request.reduction() == v1::REDUCTION_NONE;
    requested.grad_input = loss_has_gradient;
  }
  requested.dtype = request.grad_dtype() == v1::DTYPE_UNSPECIFIED
                        ? input_dtype
                        : request.grad_dtype();
  return requested;
}

void DescribeLosses(v1::ListLossesResponse* response) {
  for (const LossSpec& spec : AllLosses()) {
    v1::LossDescriptor* loss = response->add_losses();
    loss->set_name(std::string(spec.name));
    loss->set_description(std::string(spec.description));
    for (TargetKind kind : spec.target_kinds) {
      loss->add_target_kinds(ToProto(kind));
    }
    for (InputKind kind : spec.input_kinds)
      loss->add_input_kinds(ToProto(kind));
    loss->set_has_gradient(spec.has_gradient);
    loss->set_has_target_gradient(spec.has_target_gradient);
    loss->set_formula(std::string(spec.formula));
    loss->set_element_wise(spec.element_wise);
    loss->set_mean_denominator_rule(ToProto(spec.mean_denominator_rule));
    if (OptionsField(spec.name) != nullptr) {
      loss->set_options_field(std::string(spec.name));
    }
    for (const OptionSpec& option : spec.options) {
      v1::OptionDescriptor* out = loss->add_options();
      out->set_name(std::string(option.name));
      out->set_type(ToProto(option.type));
      out->set_description(std::string(option.description));
      out->set_default_value(option.DefaultText());
      if (option.minimum) out->set_minimum(*option.minimum);
      if (option.maximum) out->set_maximum(*option.maximum);
      for (absl::string_view choice : option.choices) {
        out->add_choices(std::string(choice));
      }
      out->set_minimum_exclusive(option.minimum_exclusive);
      out->set_logits_only(option.logits_only);
      out->set_class_index_only(option.class_index_only);
    }
  }
}

}  // namespace lossd::server
