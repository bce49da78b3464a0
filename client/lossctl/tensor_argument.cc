#include "tensor_argument.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "csv_tensor.h"
#include "file_io.h"
#include "npy.h"

namespace lossctl {
namespace {

absl::StatusOr<nlohmann::json> ParseJsonText(absl::string_view text,
                                             absl::string_view what) {
  nlohmann::json value = nlohmann::json::parse(text, /*cb=*/nullptr,
                                               /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not valid JSON"));
  }
  return value;
}

absl::StatusOr<TensorArgument> ReadTensorFile(const std::string& path,
                                              absl::string_view field) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  TensorArgument argument;
  if (absl::StartsWith(*bytes, "\x93NUMPY")) {
    absl::StatusOr<HostTensor> tensor = DecodeNpy(*bytes);
    if (!tensor.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " (", path, "): ", tensor.status().message()));
    }
    argument.exact = *std::move(tensor);
    return argument;
  }
  if (absl::EndsWith(path, ".npy")) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " (", path, ") ends in .npy but is not a .npy file"));
  }
  if (absl::EndsWith(path, ".csv")) {
    absl::StatusOr<JsonTensor> tensor =
        ParseCsvTensor(*bytes, absl::StrCat(field, " (", path, ")"));
    if (!tensor.ok()) return tensor.status();
    argument.json = *std::move(tensor);
    return argument;
  }
  absl::StatusOr<nlohmann::json> value =
      ParseJsonText(*bytes, absl::StrCat(field, " (", path, ")"));
  if (!value.ok()) return value.status();
  absl::StatusOr<JsonTensor> tensor = ParseJsonTensor(*value, field);
  if (!tensor.ok()) return tensor.status();
  argument.json = *std::move(tensor);
  return argument;
}

bool LooksLikePath(absl::string_view text) {
  return absl::EndsWith(text, ".npy") || absl::EndsWith(text, ".json") ||
         absl::EndsWith(text, ".csv");
}

}  // namespace

absl::StatusOr<TensorArgument> ReadTensorArgument(absl::string_view text,
                                                  absl::string_view field) {
  text = absl::StripAsciiWhitespace(text);
  if (absl::ConsumePrefix(&text, "@") || LooksLikePath(text)) {
    return ReadTensorFile(std::string(text), field);
  }
  absl::StatusOr<nlohmann::json> value = ParseJsonText(
      text, absl::StrCat(field, " (inline; use @FILE for a file)"));
  if (!value.ok()) return value.status();
  absl::StatusOr<JsonTensor> tensor = ParseJsonTensor(*value, field);
  if (!tensor.ok()) return tensor.status();
  TensorArgument argument;
  argument.json = *std::move(tensor);
  return argument;
}

absl::StatusOr<TensorArgument> TensorArgumentFromJson(
    const nlohmann::json& value, absl::string_view field) {
  if (value.is_string()) {
    return ReadTensorArgument(value.get<std::string>(), field);
  }
  absl::StatusOr<JsonTensor> tensor = ParseJsonTensor(value, field);
  if (!tensor.ok()) return tensor.status();
  TensorArgument argument;
  argument.json = *std::move(tensor);
  return argument;
}

absl::StatusOr<nlohmann::json> ReadJsonArgument(absl::string_view text,
                                                absl::string_view field) {
  text = absl::StripAsciiWhitespace(text);
  if (absl::ConsumePrefix(&text, "@")) {
    absl::StatusOr<std::string> bytes = ReadFile(std::string(text));
    if (!bytes.ok()) return bytes.status();
    return ParseJsonText(*bytes, absl::StrCat(field, " (", text, ")"));
  }
  return ParseJsonText(text,
                       absl::StrCat(field, " (inline; use @FILE for a file)"));
}

}  // namespace lossctl
