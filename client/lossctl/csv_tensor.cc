#include "csv_tensor.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace lossctl {
namespace {

// One CSV field as a number; nullopt if it is not one.
struct Number {
  double value = 0;
  std::optional<int64_t> integer;  // Set when written as an integer.
};

std::optional<Number> ParseNumber(absl::string_view text) {
  Number number;
  int64_t integer;
  if (absl::SimpleAtoi(text, &integer)) {
    number.integer = integer;
    number.value = static_cast<double>(integer);
    return number;
  }
  // SimpleAtod also takes "nan", "inf", "infinity", any case, as numpy
  // writes them.
  if (absl::SimpleAtod(text, &number.value)) return number;
  return std::nullopt;
}

}  // namespace

absl::StatusOr<JsonTensor> ParseCsvTensor(absl::string_view text,
                                          absl::string_view field) {
  JsonTensor out;
  out.shape = {0, 0};
  bool first_line = true;
  int line_number = 0;
  int64_t first_width_line = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::ConsumeSuffix(&line, "\r");
    // Blank lines, and comments as numpy.savetxt writes its header ("# ").
    const absl::string_view content = absl::StripAsciiWhitespace(line);
    if (content.empty() || absl::StartsWith(content, "#")) continue;
    std::vector<absl::string_view> cells = absl::StrSplit(line, ',');
    std::vector<std::optional<Number>> row;
    row.reserve(cells.size());
    bool any_number = false;
    for (absl::string_view cell : cells) {
      row.push_back(ParseNumber(absl::StripAsciiWhitespace(cell)));
      any_number |= row.back().has_value();
    }
    // A first line without a single number names the columns.
    const bool header = first_line && !any_number;
    first_line = false;
    if (header) continue;
    for (size_t column = 0; column < row.size(); ++column) {
      if (!row[column].has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ": line ", line_number, ", column ", column + 1, ": \"",
            absl::StripAsciiWhitespace(cells[column]), "\" is not a number"));
      }
    }
    const int64_t width = static_cast<int64_t>(row.size());
    if (out.shape[0] == 0) {
      out.shape[1] = width;
      first_width_line = line_number;
    } else if (width != out.shape[1]) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": line ", line_number, " has ", width, " values, line ",
          first_width_line, " has ", out.shape[1]));
    }
    ++out.shape[0];
    for (const std::optional<Number>& number : row) {
      out.values.push_back(number->value);
      if (number->integer.has_value()) {
        out.integers.push_back(*number->integer);
      } else {
        out.all_integers = false;
      }
    }
  }
  if (out.shape[0] == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": the CSV has no rows of numbers"));
  }
  if (!out.all_integers) out.integers.clear();
  if (out.shape[1] == 1) out.shape = {out.shape[0]};
  return out;
}

absl::StatusOr<std::string> TensorToCsv(const HostTensor& tensor) {
  if (tensor.shape.size() != 1 && tensor.shape.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("CSV holds 1-D and 2-D tensors, not shape ",
                     ShapeText(tensor.shape), "; write a .npy file instead"));
  }
  const int64_t columns = tensor.shape.size() == 2 ? tensor.shape[1] : 1;
  // TensorToJson's numbers: exact int64, shortest float32 round trips, and
  // "nan", "inf", "-inf" as strings.
  const nlohmann::json nested = TensorToJson(tensor);
  std::string out;
  auto append = [&out](const nlohmann::json& value) {
    absl::StrAppend(
        &out, value.is_string() ? value.get<std::string>() : value.dump());
  };
  for (const nlohmann::json& row : nested) {
    if (columns == 1 && !row.is_array()) {
      append(row);
    } else {
      for (size_t c = 0; c < row.size(); ++c) {
        if (c > 0) out += ',';
        append(row[c]);
      }
    }
    out += '\n';
  }
  return out;
}

}  // namespace lossctl
