#include "npy.h"

#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "file_io.h"

namespace lossctl {
namespace {

constexpr absl::string_view kMagic("\x93NUMPY", 6);

// The header is a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }
// This reads exactly that grammar: string keys, and string, boolean or
// tuple-of-integers values.
class HeaderParser {
 public:
  explicit HeaderParser(absl::string_view text) : text_(text) {}

  struct Header {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<std::vector<int64_t>> shape;
  };

  absl::StatusOr<Header> Parse() {
    Header header;
    SkipSpace();
    if (!Consume('{')) return Error("expected '{'");
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      absl::StatusOr<std::string> key = ParseString();
      if (!key.ok()) return key.status();
      SkipSpace();
      if (!Consume(':')) return Error("expected ':' after a key");
      SkipSpace();
      if (*key == "descr") {
        absl::StatusOr<std::string> value = ParseString();
        if (!value.ok()) return value.status();
        header.descr = *value;
      } else if (*key == "fortran_order") {
        if (ConsumeWord("True")) {
          header.fortran_order = true;
        } else if (ConsumeWord("False")) {
          header.fortran_order = false;
        } else {
          return Error("fortran_order must be True or False");
        }
      } else if (*key == "shape") {
        absl::StatusOr<std::vector<int64_t>> shape = ParseShape();
        if (!shape.ok()) return shape.status();
        header.shape = *std::move(shape);
      } else {
        return Error(absl::StrCat("unexpected key '", *key, "'"));
      }
      SkipSpace();
      if (Consume(',')) continue;
      SkipSpace();
      if (Consume('}')) break;
      return Error("expected ',' or '}'");
    }
    SkipSpace();
    if (position_ != text_.size()) return Error("text after the dict");
    if (!header.descr || !header.fortran_order || !header.shape) {
      return absl::InvalidArgumentError(
          ".npy header lacks one of descr, fortran_order, shape");
    }
    return header;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(
        ".npy header: ", what, " at offset ", position_, " in ", text_));
  }
  void SkipSpace() {
    while (position_ < text_.size() &&
           absl::ascii_isspace(static_cast<unsigned char>(text_[position_]))) {
      ++position_;
    }
  }
  bool Consume(char c) {
    if (position_ < text_.size() && text_[position_] == c) {
      ++position_;
      return true;
    }
    return false;
  }
  bool ConsumeWord(absl::string_view word) {
    if (text_.substr(position_, word.size()) == word) {
      position_ += word.size();
      return true;
    }
    return false;
  }
  absl::StatusOr<std::string> ParseString() {
    if (position_ >= text_.size() ||
        (text_[position_] != '\'' && text_[position_] != '"')) {
      return Error("expected a quoted string");
    }
    const char quote = text_[position_++];
    const size_t end = text_.find(quote, position_);
    if (end == absl::string_view::npos) return Error("unterminated string");
    std::string value(text_.substr(position_, end - position_));
    position_ = end + 1;
    return value;
  }
  absl::StatusOr<std::vector<int64_t>> ParseShape() {
    if (!Consume('(')) return Error("shape must be a tuple");
    std::vector<int64_t> shape;
    while (true) {
      SkipSpace();
      if (Consume(')')) break;
      const size_t start = position_;
      while (
          position_ < text_.size() &&
          absl::ascii_isdigit(static_cast<unsigned char>(text_[position_]))) {
        ++position_;
      }
      // Some writers (Python 2) append 'L' to long integers.
      const absl::string_view digits = text_.substr(start, position_ - start);
      Consume('L');
      int64_t dimension;
      if (digits.empty() || !absl::SimpleAtoi(digits, &dimension)) {
        return Error("shape entries must be non-negative integers");
      }
      shape.push_back(dimension);
      SkipSpace();
      if (Consume(',')) continue;
      SkipSpace();
      if (Consume(')')) break;
      return Error("expected ',' or ')' in shape");
    }
    return shape;
  }

  absl::string_view text_;
  size_t position_ = 0;
};

struct Descr {
  absl::string_view text;
  v1::DType dtype;
};
constexpr Descr kAccepted[] = {
    {"<f4", v1::DTYPE_FLOAT32}, {"<f8", v1::DTYPE_FLOAT64},
    {"<i4", v1::DTYPE_INT32},   {"<i8", v1::DTYPE_INT64},
    {"|u1", v1::DTYPE_UINT8},   {"|b1", v1::DTYPE_BOOL},
};

absl::StatusOr<v1::DType> DTypeOfDescr(absl::string_view descr) {
  for (const Descr& accepted : kAccepted) {
    if (accepted.text == descr) return accepted.dtype;
  }
  std::string why;
  if (!descr.empty() && descr[0] == '>') {
    why = " (big-endian; convert with arr.astype(arr.dtype.newbyteorder('<')))";
  } else if (descr == "<f2") {
    why = " (float16; send it as float32)";
  } else if (descr == "|O" || (!descr.empty() && descr[0] == '[')) {
    why = " (object or structured arrays carry no plain numbers)";
  }
  return absl::InvalidArgumentError(
      absl::StrCat(".npy dtype '", descr, "' is not supported", why,
                   "; accepted: <f4 <f8 <i4 <i8 |u1 |b1"));
}

uint32_t ReadLittleEndian(absl::string_view bytes) {
  uint32_t value = 0;
  for (size_t i = bytes.size(); i-- > 0;) {
    value = (value << 8) | static_cast<uint8_t>(bytes[i]);
  }
  return value;
}

}  // namespace

absl::StatusOr<HostTensor> DecodeNpy(absl::string_view file_bytes) {
  if (file_bytes.substr(0, kMagic.size()) != kMagic) {
    return absl::InvalidArgumentError(
        "not a .npy file (the magic string \\x93NUMPY is missing)");
  }
  if (file_bytes.size() < 10) {
    return absl::InvalidArgumentError(".npy file is truncated in its header");
  }
  const int major = static_cast<uint8_t>(file_bytes[6]);
  size_t length_bytes;
  if (major == 1) {
    length_bytes = 2;
  } else if (major == 2 || major == 3) {
    length_bytes = 4;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(".npy format version ", major, ".",
                     static_cast<int>(static_cast<uint8_t>(file_bytes[7])),
                     " is not supported (1.0, 2.0 and 3.0 are)"));
  }
  const size_t prelude = 8 + length_bytes;
  if (file_bytes.size() < prelude) {
    return absl::InvalidArgumentError(".npy file is truncated in its header");
  }
  const uint64_t header_length =
      ReadLittleEndian(file_bytes.substr(8, length_bytes));
  if (file_bytes.size() - prelude < header_length) {
    return absl::InvalidArgumentError(absl::StrCat(
        ".npy header says ", header_length, " bytes but the file has ",
        file_bytes.size() - prelude, " after the prelude"));
  }
  absl::StatusOr<HeaderParser::Header> header =
      HeaderParser(file_bytes.substr(prelude, header_length)).Parse();
  if (!header.ok()) return header.status();
  absl::StatusOr<v1::DType> dtype = DTypeOfDescr(*header->descr);
  if (!dtype.ok()) return dtype.status();
  if (*header->fortran_order) {
    return absl::InvalidArgumentError(
        ".npy array is in Fortran order; save it with "
        "np.ascontiguousarray(arr)");
  }
  absl::StatusOr<int64_t> count = CheckedElementCount(*header->shape);
  if (!count.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(".npy ", count.status().message()));
  }
  const absl::string_view data = file_bytes.substr(prelude + header_length);
  const uint64_t expected = static_cast<uint64_t>(*count) * DTypeSize(*dtype);
  if (data.size() != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(".npy data has ", data.size(), " bytes but shape ",
                     ShapeText(*header->shape), " of ", *header->descr,
                     " needs ", expected));
  }
  if (*dtype == v1::DTYPE_BOOL) {
    for (size_t i = 0; i < data.size(); ++i) {
      if (static_cast<uint8_t>(data[i]) > 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            ".npy bool element ", i, " is ",
            static_cast<int>(static_cast<uint8_t>(data[i])), ", not 0 or 1"));
      }
    }
  }
  return HostTensor{.dtype = *dtype,
                    .shape = *std::move(header->shape),
                    .bytes = std::string(data)};
}

std::string EncodeNpy(const HostTensor& tensor) {
  HostTensor widened;
  const HostTensor* source = &tensor;
  absl::string_view descr;
  switch (tensor.dtype) {
    case v1::DTYPE_FLOAT32:
      descr = "<f4";
      break;
    case v1::DTYPE_FLOAT64:
      descr = "<f8";
      break;
    case v1::DTYPE_FLOAT16:
      descr = "<f2";
      break;
    case v1::DTYPE_INT32:
      descr = "<i4";
      break;
    case v1::DTYPE_INT64:
      descr = "<i8";
      break;
    case v1::DTYPE_UINT8:
      descr = "|u1";
      break;
    case v1::DTYPE_BOOL:
      descr = "|b1";
      break;
    default:  // bfloat16: numpy has no such dtype.
      widened = FromDoubles(ToDoubles(tensor), tensor.shape, v1::DTYPE_FLOAT32);
      source = &widened;
      descr = "<f4";
      break;
  }
  // numpy writes a 1-tuple with a trailing comma: (3,).
  std::string shape = absl::StrJoin(source->shape, ", ");
  if (source->shape.size() == 1) shape += ",";
  std::string header =
      absl::StrCat("{'descr': '", descr,
                   "', 'fortran_order': False, 'shape': (", shape, "), }");
  // The prelude plus header is padded with spaces to a multiple of 64 bytes
  // and ends in a newline, so that the data is aligned.
  size_t length_bytes = 2;
  int major = 1;
  if (header.size() + 1 + 10 > 65535) {
    length_bytes = 4;
    major = 2;
  }
  const size_t prelude = 8 + length_bytes;
  const size_t total = (prelude + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prelude - header.size() - 1, ' ');
  header.push_back('\n');

  std::string out(kMagic);
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  for (size_t i = 0; i < length_bytes; ++i) {
    out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  }
  out += header;
  out += source->bytes;
  return out;
}

absl::StatusOr<HostTensor> ReadNpyFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<HostTensor> tensor = DecodeNpy(*bytes);
  if (!tensor.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", tensor.status().message()));
  }
  return tensor;
}

absl::Status WriteNpyFile(const std::string& path, const HostTensor& tensor) {
  return WriteFile(path, EncodeNpy(tensor));
}

}  // namespace lossctl
