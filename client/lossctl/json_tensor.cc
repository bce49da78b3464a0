#include "json_tensor.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "absl/strings/str_cat.h"

namespace lossctl {
namespace {

using nlohmann::json;

// Walks nested arrays depth first. The first array seen at each depth fixes
// that dimension; every later one must agree, so ragged input is an error.
class Flattener {
 public:
  Flattener(JsonTensor* out, absl::string_view field)
      : out_(out), field_(field) {}

  absl::Status Walk(const json& value, const std::string& path, size_t depth) {
    if (value.is_array()) {
      if (leaf_depth_ && depth >= *leaf_depth_) {
        return Error(path, "expected a number, got an array");
      }
      if (depth == out_->shape.size()) {
        out_->shape.push_back(static_cast<int64_t>(value.size()));
      } else if (out_->shape[depth] != static_cast<int64_t>(value.size())) {
        return Error(path, absl::StrCat("expected ", out_->shape[depth],
                                        " elements like its siblings, got ",
                                        value.size()));
      }
      if (value.empty()) {
        // An empty array ends the shape here: [[], []] is [2, 0].
        if (leaf_depth_ && *leaf_depth_ != depth + 1) {
          return Error(path, "is empty where its siblings are not");
        }
        leaf_depth_ = depth + 1;
        return absl::OkStatus();
      }
      for (size_t i = 0; i < value.size(); ++i) {
        if (absl::Status s =
                Walk(value[i], absl::StrCat(path, "[", i, "]"), depth + 1);
            !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
    }
    if (!leaf_depth_) leaf_depth_ = depth;
    if (depth != *leaf_depth_) {
      return Error(path, "expected an array like its siblings, got a number");
    }
    return AddLeaf(value, path);
  }

 private:
  absl::Status AddLeaf(const json& value, const std::string& path) {
    if (value.is_boolean()) {
      if (!out_->values.empty() && !saw_boolean_) {
        return Error(path, "is a boolean among numbers");
      }
      saw_boolean_ = true;
      out_->values.push_back(value.get<bool>() ? 1 : 0);
      out_->integers.push_back(value.get<bool>() ? 1 : 0);
      return absl::OkStatus();
    }
    if (saw_boolean_) return Error(path, "is a number among booleans");
    if (value.is_number_unsigned()) {
      const uint64_t v = value.get<uint64_t>();
      if (v > static_cast<uint64_t>(INT64_MAX)) {
        return Error(path, "is larger than int64 can hold");
      }
      out_->values.push_back(static_cast<double>(v));
      out_->integers.push_back(static_cast<int64_t>(v));
      return absl::OkStatus();
    }
    if (value.is_number_integer()) {
      const int64_t v = value.get<int64_t>();
      out_->values.push_back(static_cast<double>(v));
      out_->integers.push_back(v);
      return absl::OkStatus();
    }
    if (value.is_number_float()) {
      out_->all_integers = false;
      out_->values.push_back(value.get<double>());
      return absl::OkStatus();
    }
    // JSON has no NaN or infinity; accept the usual spellings as strings.
    if (value.is_string()) {
      const std::string& text = value.get_ref<const std::string&>();
      double special;
      if (text == "nan" || text == "NaN") {
        special = std::nan("");
      } else if (text == "inf" || text == "Infinity" || text == "+inf") {
        special = INFINITY;
      } else if (text == "-inf" || text == "-Infinity") {
        special = -INFINITY;
      } else {
        return Error(path, absl::StrCat("\"", text,
                                        "\" is not a number (strings allowed: "
                                        "\"nan\", \"inf\", \"-inf\")"));
      }
      out_->all_integers = false;
      out_->values.push_back(special);
      return absl::OkStatus();
    }
    return Error(path,
                 absl::StrCat("expected a number, got ", value.type_name()));
  }

  absl::Status Error(const std::string& path, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(field_, path, ": ", what));
  }

  JsonTensor* out_;
  absl::string_view field_;
  std::optional<size_t> leaf_depth_;
  bool saw_boolean_ = false;
};

json ShortestFloat(float value) {
  if (!std::isfinite(value)) {
    return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
  }
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::strtod(std::string(buffer, end).c_str(), nullptr);
}

json Number(double value, v1::DType dtype) {
  if (dtype == v1::DTYPE_FLOAT64) {
    if (!std::isfinite(value)) {
      return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
    }
    return value;
  }
  if (IsFloatingDType(dtype)) return ShortestFloat(static_cast<float>(value));
  if (dtype == v1::DTYPE_BOOL) return value != 0;
  return static_cast<int64_t>(value);
}

// Nested arrays of `shape`, taking elements in row-major order.
json Nest(absl::Span<const int64_t> shape, size_t* next,
          const std::function<json(size_t)>& element) {
  if (shape.empty()) return element((*next)++);
  json array = json::array();
  for (int64_t i = 0; i < shape[0]; ++i) {
    array.push_back(Nest(shape.subspan(1), next, element));
  }
  return array;
}

}  // namespace

absl::StatusOr<JsonTensor> ParseJsonTensor(const json& value,
                                           absl::string_view field) {
  JsonTensor out;
  if (value.is_object()) {
    for (const auto& [key, unused] : value.items()) {
      if (key != "dtype" && key != "shape" && key != "data") {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": unknown key \"", key,
                         "\" (a tensor object has dtype, shape and data)"));
      }
    }
    if (!value.contains("data")) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": a tensor object needs \"data\""));
    }
    absl::StatusOr<JsonTensor> inner = ParseJsonTensor(value["data"], field);
    if (!inner.ok()) return inner.status();
    out = *std::move(inner);
    if (value.contains("dtype")) {
      if (!value["dtype"].is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".dtype must be a string"));
      }
      absl::StatusOr<v1::DType> dtype =
          ParseDTypeName(value["dtype"].get<std::string>());
      if (!dtype.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".dtype: ", dtype.status().message()));
      }
      out.dtype = *dtype;
    }
    if (value.contains("shape")) {
      std::vector<int64_t> shape;
      if (!value["shape"].is_array()) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".shape must be an array of integers"));
      }
      for (const json& d : value["shape"]) {
        if (!d.is_number_integer()) {
          return absl::InvalidArgumentError(
              absl::StrCat(field, ".shape must be an array of integers"));
        }
        shape.push_back(d.get<int64_t>());
      }
      absl::StatusOr<int64_t> count = CheckedElementCount(shape);
      if (!count.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".", count.status().message()));
      }
      if (*count != static_cast<int64_t>(out.values.size())) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": shape ", ShapeText(shape), " needs ", *count,
                         " values, data has ", out.values.size()));
      }
      out.shape = std::move(shape);
    }
    return out;
  }
  Flattener flattener(&out, field);
  if (absl::Status s = flattener.Walk(value, "", 0); !s.ok()) return s;
  out.all_booleans =
      !out.values.empty() && out.all_integers && (value.is_boolean() || [&] {
        // The flattener rejects mixtures, so one leaf decides.
        const json* leaf = &value;
        while (leaf->is_array() && !leaf->empty()) {
          leaf = &(*leaf)[0];
        }
        return leaf->is_boolean();
      }());
  if (!out.all_integers) out.integers.clear();
  return out;
}

absl::StatusOr<HostTensor> ToHostTensor(const JsonTensor& tensor,
                                        v1::DType dtype,
                                        absl::string_view field) {
  if (IsFloatingDType(dtype)) {
    return FromDoubles(tensor.values, tensor.shape, dtype);
  }
  if (!tensor.all_integers) {
    for (size_t i = 0; i < tensor.values.size(); ++i) {
      if (tensor.values[i] != std::floor(tensor.values[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, " element ", i, " = ", tensor.values[i],
                         " is not an ", DTypeShortName(dtype), " value"));
      }
    }
  }
  int64_t low = INT64_MIN, high = INT64_MAX;
  if (dtype == v1::DTYPE_INT32) low = INT32_MIN, high = INT32_MAX;
  if (dtype == v1::DTYPE_UINT8) low = 0, high = 255;
  if (dtype == v1::DTYPE_BOOL) low = 0, high = 1;
  HostTensor out{.dtype = dtype, .shape = tensor.shape};
  const size_t size = DTypeSize(dtype);
  out.bytes.resize(tensor.values.size() * size);
  for (size_t i = 0; i < tensor.values.size(); ++i) {
    const int64_t v = tensor.all_integers
                          ? tensor.integers[i]
                          : static_cast<int64_t>(tensor.values[i]);
    if (v < low || v > high) {
      return absl::InvalidArgumentError(absl::StrCat(field, " element ", i,
                                                     " = ", v, " does not fit ",
                                                     DTypeShortName(dtype)));
    }
    // Little-endian: the low `size` bytes of the two's complement value.
    for (size_t b = 0; b < size; ++b) {
      out.bytes[i * size + b] =
          static_cast<char>((static_cast<uint64_t>(v) >> (8 * b)) & 0xff);
    }
  }
  return out;
}

json TensorToJson(const HostTensor& tensor) {
  const std::vector<double> values = ToDoubles(tensor);
  size_t next = 0;
  if (tensor.dtype == v1::DTYPE_INT64) {
    // int64 is read exactly, not through double.
    return Nest(tensor.shape, &next, [&](size_t i) -> json {
      int64_t v;
      std::memcpy(&v, tensor.bytes.data() + i * sizeof v, sizeof v);
      return v;
    });
  }
  return Nest(tensor.shape, &next,
              [&](size_t i) { return Number(values[i], tensor.dtype); });
}

}  // namespace lossctl
