// JSON tensors: shapes inferred from nesting, integers told from floats,
// ragged or mixed input refused with the path of the first offender.

#include "json_tensor.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lossctl {
namespace {

using ::nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

JsonTensor Parse(const char* text) {
  absl::StatusOr<JsonTensor> tensor = ParseJsonTensor(json::parse(text), "x");
  EXPECT_TRUE(tensor.ok()) << tensor.status();
  return tensor.ok() ? *tensor : JsonTensor{};
}

std::string ParseError(const char* text) {
  absl::StatusOr<JsonTensor> tensor = ParseJsonTensor(json::parse(text), "x");
  EXPECT_FALSE(tensor.ok()) << text;
  return tensor.ok() ? "" : std::string(tensor.status().message());
}

TEST(JsonTensor, NestingGivesTheShape) {
  const JsonTensor matrix = Parse("[[0.9, 0.1], [0.1, 0.9], [0.4, 0.6]]");
  EXPECT_THAT(matrix.shape, ElementsAre(3, 2));
  EXPECT_THAT(matrix.values, ElementsAre(0.9, 0.1, 0.1, 0.9, 0.4, 0.6));
  EXPECT_FALSE(matrix.all_integers);

  EXPECT_THAT(Parse("[[[1], [2]], [[3], [4]]]").shape, ElementsAre(2, 2, 1));
  EXPECT_THAT(Parse("[1, 2, 3]").shape, ElementsAre(3));
  EXPECT_TRUE(Parse("2.5").shape.empty());
  EXPECT_THAT(Parse("2.5").values, ElementsAre(2.5));
}

TEST(JsonTensor, EmptyArraysEndTheShape) {
  EXPECT_THAT(Parse("[]").shape, ElementsAre(0));
  EXPECT_THAT(Parse("[[], []]").shape, ElementsAre(2, 0));
  EXPECT_TRUE(Parse("[[], []]").values.empty());
}

TEST(JsonTensor, IntegersAreKeptExactly) {
  const JsonTensor indices = Parse("[0, 1, 9007199254740993]");
  EXPECT_TRUE(indices.all_integers);
  EXPECT_THAT(indices.integers, ElementsAre(0, 1, 9007199254740993));
  // 1.0 is written as a float: the tensor is floating.
  EXPECT_FALSE(Parse("[0, 1.0]").all_integers);
  EXPECT_TRUE(Parse("[-3, 4]").all_integers);
}

TEST(JsonTensor, BooleansAreDetected) {
  const JsonTensor flags = Parse("[[true, false], [false, true]]");
  EXPECT_TRUE(flags.all_booleans);
  EXPECT_THAT(flags.values, ElementsAre(1, 0, 0, 1));
  EXPECT_FALSE(Parse("[1, 0]").all_booleans);
}

TEST(JsonTensor, SpecialValuesAsStrings) {
  const JsonTensor special = Parse(R"(["nan", "inf", "-inf", 1])");
  EXPECT_TRUE(std::isnan(special.values[0]));
  EXPECT_EQ(special.values[1], INFINITY);
  EXPECT_EQ(special.values[2], -INFINITY);
  EXPECT_FALSE(special.all_integers);
}

TEST(JsonTensor, RaggedAndMixedInputIsRefusedWithItsPath) {
  EXPECT_THAT(ParseError("[[1, 2], [3]]"),
              HasSubstr("x[1]: expected 2 elements like its siblings, got 1"));
  EXPECT_THAT(ParseError("[[1, 2], 3]"),
              HasSubstr("x[1]: expected an array like its siblings"));
  EXPECT_THAT(ParseError("[1, [2]]"), HasSubstr("x[1]: expected a number"));
  EXPECT_THAT(ParseError("[[1], []]"), HasSubstr("x[1]: expected 1 elements"));
  EXPECT_THAT(ParseError("[[], [1]]"), HasSubstr("x[1]: expected 0 elements"));
  EXPECT_THAT(ParseError("[1, true]"),
              HasSubstr("x[1]: is a boolean among numbers"));
  EXPECT_THAT(ParseError("[true, 1]"),
              HasSubstr("x[1]: is a number among booleans"));
  EXPECT_THAT(ParseError("[1, null]"),
              HasSubstr("x[1]: expected a number, got null"));
  EXPECT_THAT(ParseError(R"([[1, "one"]])"),
              HasSubstr("x[0][1]: \"one\" is not a number"));
  EXPECT_THAT(ParseError("[18446744073709551615]"),
              HasSubstr("larger than int64"));
}

TEST(JsonTensor, ExplicitForm) {
  const JsonTensor tensor =
      Parse(R"({"dtype": "int32", "shape": [2, 2], "data": [1, 2, 3, 4]})");
  EXPECT_EQ(tensor.dtype, v1::DTYPE_INT32);
  EXPECT_THAT(tensor.shape, ElementsAre(2, 2));
  EXPECT_THAT(ParseError(R"({"shape": [3], "data": [1, 2]})"),
              HasSubstr("shape [3] needs 3 values, data has 2"));
  EXPECT_THAT(ParseError(R"({"dtype": "complex64", "data": [1]})"),
              HasSubstr("unknown dtype"));
  EXPECT_THAT(ParseError(R"({"values": [1]})"),
              HasSubstr("unknown key \"values\""));
  EXPECT_THAT(ParseError(R"({"shape": [1]})"), HasSubstr("needs \"data\""));
}

TEST(JsonTensor, EncodesEachDtype) {
  const JsonTensor indices = Parse("[0, 2, 1]");
  absl::StatusOr<HostTensor> int64 =
      ToHostTensor(indices, v1::DTYPE_INT64, "x");
  ASSERT_TRUE(int64.ok());
  EXPECT_EQ(
      int64->bytes,
      std::string("\0\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0", 24));
  absl::StatusOr<HostTensor> int32 =
      ToHostTensor(Parse("[-1]"), v1::DTYPE_INT32, "x");
  ASSERT_TRUE(int32.ok());
  EXPECT_EQ(int32->bytes, std::string("\xff\xff\xff\xff", 4));
  absl::StatusOr<HostTensor> floats =
      ToHostTensor(Parse("[0.5, 2]"), v1::DTYPE_FLOAT32, "x");
  ASSERT_TRUE(floats.ok());
  EXPECT_EQ(ToDoubles(*floats), (std::vector<double>{0.5, 2}));
  absl::StatusOr<HostTensor> bf16 =
      ToHostTensor(Parse("[1.5]"), v1::DTYPE_BFLOAT16, "x");
  ASSERT_TRUE(bf16.ok());
  EXPECT_EQ(bf16->bytes, std::string("\xc0\x3f", 2));

  EXPECT_THAT(
      ToHostTensor(Parse("[0.5]"), v1::DTYPE_INT64, "x").status().message(),
      HasSubstr("x element 0 = 0.5 is not an int64 value"));
  EXPECT_THAT(
      ToHostTensor(Parse("[256]"), v1::DTYPE_UINT8, "x").status().message(),
      HasSubstr("does not fit uint8"));
  EXPECT_THAT(
      ToHostTensor(Parse("[2]"), v1::DTYPE_BOOL, "x").status().message(),
      HasSubstr("does not fit bool"));
  EXPECT_THAT(ToHostTensor(Parse("[3000000000]"), v1::DTYPE_INT32, "x")
                  .status()
                  .message(),
              HasSubstr("does not fit int32"));
}

TEST(JsonTensor, WritesNestedArraysInShortestForm) {
  const HostTensor floats = FromDoubles(std::vector<double>{0.1, 0.2, -3, 1e-8},
                                        {2, 2}, v1::DTYPE_FLOAT32);
  EXPECT_EQ(TensorToJson(floats).dump(), "[[0.1,0.2],[-3.0,1e-08]]");
  const HostTensor doubles =
      FromDoubles(std::vector<double>{0.1, NAN}, {2}, v1::DTYPE_FLOAT64);
  EXPECT_EQ(TensorToJson(doubles).dump(), "[0.1,\"nan\"]");
  const HostTensor scalar =
      FromDoubles(std::vector<double>{4}, {}, v1::DTYPE_INT64);
  EXPECT_EQ(TensorToJson(scalar).dump(), "4");
  const HostTensor empty{.dtype = v1::DTYPE_FLOAT32, .shape = {2, 0}};
  EXPECT_EQ(TensorToJson(empty).dump(), "[[],[]]");
  const HostTensor flags =
      FromDoubles(std::vector<double>{1, 0}, {2}, v1::DTYPE_BOOL);
  EXPECT_EQ(TensorToJson(flags).dump(), "[true,false]");
}

TEST(JsonTensor, ParseAndWriteRoundTrip) {
  for (const char* text : {"[[1.5,-2.25],[3.0,4.0]]", "[[[0.5]]]", "[]"}) {
    const JsonTensor parsed = Parse(text);
    absl::StatusOr<HostTensor> tensor =
        ToHostTensor(parsed, v1::DTYPE_FLOAT64, "x");
    ASSERT_TRUE(tensor.ok());
    EXPECT_EQ(TensorToJson(*tensor).dump(), text);
  }
}

}  // namespace
}  // namespace lossctl
