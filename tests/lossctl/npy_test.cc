// The .npy codec against bytes numpy 1.24 wrote (np.save), and every way a
// file can be refused.

#include "npy.h"

#include <cstring>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lossctl {
namespace {

using ::testing::HasSubstr;

// A version 1.0 file as numpy writes it: the prelude, the dict, `spaces`
// blanks of padding and a newline (so that the data starts at byte 128),
// then the data.
std::string NumpyFile(absl::string_view dict, int spaces,
                      absl::string_view data_hex) {
  const int header_length = static_cast<int>(dict.size()) + spaces + 1;
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header_length & 0xff));
  out.push_back(static_cast<char>(header_length >> 8));
  out.append(dict.data(), dict.size());
  out.append(spaces, ' ');
  out += '\n';
  out += absl::HexStringToBytes(data_hex);
  return out;
}

struct Golden {
  const char* name;
  const char* dict;
  int spaces;  // As numpy padded it.
  const char* data_hex;
  v1::DType dtype;
  std::vector<int64_t> shape;
};

// Printed by numpy 1.24.2: np.save(f, np.array(..., dtype=...)).
const Golden kGolden[] = {
    {"float32 [[0.9, 0.1], [0.1, 0.9]]",
     "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
     58,
     "6666663fcdcccc3dcdcccc3d6666663f",
     v1::DTYPE_FLOAT32,
     {2, 2}},
    {"int64 [0, 1, 2]",
     "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
     60,
     "000000000000000001000000000000000200000000000000",
     v1::DTYPE_INT64,
     {3}},
    {"float64 scalar 3.5",
     "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
     62,
     "0000000000000c40",
     v1::DTYPE_FLOAT64,
     {}},
    {"bool [True, False]",
     "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }",
     60,
     "0100",
     v1::DTYPE_BOOL,
     {2}},
    {"uint8 zeros (0, 3)",
     "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 3), }",
     58,
     "",
     v1::DTYPE_UINT8,
     {0, 3}},
    {"int32 [1, -2]",
     "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
     60,
     "01000000feffffff",
     v1::DTYPE_INT32,
     {2}},
};

TEST(Npy, ReadsWhatNumpyWrites) {
  for (const Golden& golden : kGolden) {
    SCOPED_TRACE(golden.name);
    absl::StatusOr<HostTensor> tensor =
        DecodeNpy(NumpyFile(golden.dict, golden.spaces, golden.data_hex));
    ASSERT_TRUE(tensor.ok()) << tensor.status();
    EXPECT_EQ(tensor->dtype, golden.dtype);
    EXPECT_EQ(tensor->shape, golden.shape);
    EXPECT_EQ(tensor->bytes, absl::HexStringToBytes(golden.data_hex));
  }
}

TEST(Npy, WritesExactlyWhatNumpyWrites) {
  for (const Golden& golden : kGolden) {
    SCOPED_TRACE(golden.name);
    HostTensor tensor{.dtype = golden.dtype,
                      .shape = golden.shape,
                      .bytes = absl::HexStringToBytes(golden.data_hex)};
    EXPECT_EQ(EncodeNpy(tensor),
              NumpyFile(golden.dict, golden.spaces, golden.data_hex));
  }
}

TEST(Npy, ValuesSurviveARoundTrip) {
  const double values[] = {0.9, -0.1, 1e-30, 3.5, -7, 0};
  for (v1::DType dtype : {v1::DTYPE_FLOAT32, v1::DTYPE_FLOAT64, v1::DTYPE_INT32,
                          v1::DTYPE_INT64, v1::DTYPE_UINT8, v1::DTYPE_BOOL}) {
    SCOPED_TRACE(DTypeShortName(dtype));
    for (const std::vector<int64_t>& shape :
         std::vector<std::vector<int64_t>>{{6}, {2, 3}, {3, 1, 2}}) {
      const HostTensor original = FromDoubles(values, shape, dtype);
      absl::StatusOr<HostTensor> back = DecodeNpy(EncodeNpy(original));
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(back->dtype, dtype);
      EXPECT_EQ(back->shape, shape);
      EXPECT_EQ(back->bytes, original.bytes);
    }
  }
}

TEST(Npy, HeaderLengthIsPaddedToSixtyFourBytesForEveryShape) {
  // Walk rank and dimension widths so that the dict's length crosses
  // several padding boundaries.
  std::vector<int64_t> shape;
  for (int rank = 1; rank <= 12; ++rank) {
    shape.push_back(rank % 3 == 0 ? 1 : 0);
    const HostTensor tensor{.dtype = v1::DTYPE_FLOAT32, .shape = shape};
    const std::string bytes = EncodeNpy(tensor);
    const size_t header_length =
        static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8;
    EXPECT_EQ((10 + header_length) % 64, 0u) << "rank " << rank;
    EXPECT_EQ(bytes[10 + header_length - 1], '\n');
    absl::StatusOr<HostTensor> back = DecodeNpy(bytes);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->shape, shape);
  }
}

TEST(Npy, ReadsVersionTwoHeaders) {
  // np.lib.format.write_array(f, np.array([1.5], '<f4'), version=(2, 0)).
  std::string file("\x93NUMPY\x02\x00\x74\x00\x00\x00", 12);
  file += "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
  file.append(58, ' ');
  file += '\n';
  file += absl::HexStringToBytes("0000c03f");
  absl::StatusOr<HostTensor> tensor = DecodeNpy(file);
  ASSERT_TRUE(tensor.ok()) << tensor.status();
  EXPECT_EQ(ToDoubles(*tensor), std::vector<double>{1.5});
}

TEST(Npy, ReadsKeysInAnyOrderAndDoubleQuotes) {
  absl::StatusOr<HostTensor> tensor = DecodeNpy(NumpyFile(
      "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<i4\"}", 3,
      "0100000002000000"));
  ASSERT_TRUE(tensor.ok()) << tensor.status();
  EXPECT_EQ(ToDoubles(*tensor), (std::vector<double>{1, 2}));
}

TEST(Npy, BFloat16IsWidenedToFloat32) {
  const HostTensor tensor =
      FromDoubles(std::vector<double>{1.5, -2}, {2}, v1::DTYPE_BFLOAT16);
  absl::StatusOr<HostTensor> back = DecodeNpy(EncodeNpy(tensor));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->dtype, v1::DTYPE_FLOAT32);
  EXPECT_EQ(ToDoubles(*back), (std::vector<double>{1.5, -2}));
}

struct Rejection {
  const char* name;
  std::string file;
  const char* message;
};

TEST(Npy, RejectsWhatItCannotCarryWithAClearMessage) {
  const std::string f4 =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const Rejection rejections[] = {
      {"empty file", "", "not a .npy file"},
      {"wrong magic", "\x93NUMPZ\x01\x00\x00\x00", "not a .npy file"},
      {"truncated prelude", std::string("\x93NUMPY\x01", 7), "truncated"},
      {"header longer than the file",
       std::string("\x93NUMPY\x01\x00\xff\x00{", 11), "header says 255 bytes"},
      {"format version 4", std::string("\x93NUMPY\x04\x00\x00\x00", 10),
       "version 4.0"},
      {"big-endian",
       NumpyFile("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", 3,
                 "3fc00000"),
       "big-endian"},
      {"float16",
       NumpyFile("{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", 3,
                 "003e"),
       "'<f2' is not supported"},
      {"unsigned 16-bit",
       NumpyFile("{'descr': '<u2', 'fortran_order': False, 'shape': (1,), }", 3,
                 "0100"),
       "accepted: <f4 <f8 <i4 <i8 |u1 |b1"},
      {"object array",
       NumpyFile("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", 3,
                 "00"),
       "object or structured"},
      {"structured array",
       NumpyFile("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': "
                 "(1,), }",
                 3, "0000c03f"),
       "expected a quoted string"},
      {"Fortran order",
       NumpyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 3,
                 "0000c03f0000c03f"),
       "Fortran order"},
      {"data too short", NumpyFile(f4, 3, "0000c03f"),
       "data has 4 bytes but shape [2] of <f4 needs 8"},
      {"data too long", NumpyFile(f4, 3, "0000c03f0000c03f00"),
       "data has 9 bytes"},
      {"negative dimension",
       NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
                 3, ""),
       "non-negative integers"},
      {"overflowing shape",
       NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': "
                 "(4294967296, 4294967296), }",
                 3, ""),
       "too large"},
      {"missing shape",
       NumpyFile("{'descr': '<f4', 'fortran_order': False}", 3, ""),
       "lacks one of"},
      {"unknown key",
       NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (), "
                 "'extra': 1}",
                 3, "0000c03f"),
       "unexpected key 'extra'"},
      {"not a dict", NumpyFile("['<f4']", 3, ""), "expected '{'"},
      {"unterminated string", NumpyFile("{'descr: 1}", 3, ""), "unterminated"},
      {"bool other than 0 or 1",
       NumpyFile("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", 3,
                 "0102"),
       "bool element 1 is 2"},
  };
  for (const Rejection& rejection : rejections) {
    SCOPED_TRACE(rejection.name);
    absl::StatusOr<HostTensor> tensor = DecodeNpy(rejection.file);
    ASSERT_FALSE(tensor.ok());
    EXPECT_EQ(tensor.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(tensor.status().message(), HasSubstr(rejection.message));
  }
}

TEST(Npy, FilesRoundTripAndMissingFilesAreNamed) {
  const std::string path = ::testing::TempDir() + "/lossctl_npy_test.npy";
  const HostTensor tensor =
      FromDoubles(std::vector<double>{1, 2, 3, 4}, {2, 2}, v1::DTYPE_FLOAT64);
  ASSERT_TRUE(WriteNpyFile(path, tensor).ok());
  absl::StatusOr<HostTensor> back = ReadNpyFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->bytes, tensor.bytes);
  absl::StatusOr<HostTensor> missing = ReadNpyFile(path + ".absent");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr(".absent"));
}

}  // namespace
}  // namespace lossctl
