// The CSV codec against text numpy 1.24 wrote (np.savetxt), and every way a
// file can be refused.

#include "csv_tensor.h"

#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lossctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CsvTensor, ReadsWhatNumpySavetxtWrites) {
  // np.savetxt(f, np.array([[4, 2.5, -1e-3], [0, np.inf, np.nan]],
  //            dtype=np.float32), delimiter=",")
  const absl::StatusOr<JsonTensor> tensor = ParseCsvTensor(
      "4.000000000000000000e+00,2.500000000000000000e+00,"
      "-1.000000047497451305e-03\n"
      "0.000000000000000000e+00,inf,nan\n",
      "input");
  ASSERT_TRUE(tensor.ok()) << tensor.status();
  EXPECT_THAT(tensor->shape, ElementsAre(2, 3));
  EXPECT_FALSE(tensor->all_integers);
  ASSERT_EQ(tensor->values.size(), 6u);
  EXPECT_EQ(tensor->values[0], 4.0);
  EXPECT_EQ(tensor->values[1], 2.5);
  EXPECT_EQ(static_cast<float>(tensor->values[2]), -1e-3f);
  EXPECT_EQ(tensor->values[3], 0.0);
  EXPECT_EQ(tensor->values[4], INFINITY);
  EXPECT_TRUE(std::isnan(tensor->values[5]));
}

TEST(CsvTensor, OneColumnOfIntegersIsOneDimensionalClassIndices) {
  // np.savetxt(f, np.array([2, 0, 1]), delimiter=",", fmt="%d")
  const absl::StatusOr<JsonTensor> tensor = ParseCsvTensor("2\n0\n1\n", "t");
  ASSERT_TRUE(tensor.ok()) << tensor.status();
  EXPECT_THAT(tensor->shape, ElementsAre(3));
  EXPECT_TRUE(tensor->all_integers);
  EXPECT_THAT(tensor->integers, ElementsAre(2, 0, 1));
}

TEST(CsvTensor, SkipsAHeaderCommentsBlankLinesAndCarriageReturns) {
  // np.savetxt(..., header="a,b") writes "# a,b"; a spreadsheet export
  // writes the names bare, with CRLF line ends.
  for (const char* text :
       {"# a,b\n1,0\n\n0,1\n", "a,b\r\n1,0\r\n0,1\r\n", " 1 , 0 \n0,1"}) {
    const absl::StatusOr<JsonTensor> tensor = ParseCsvTensor(text, "t");
    ASSERT_TRUE(tensor.ok()) << tensor.status() << " for " << text;
    EXPECT_THAT(tensor->shape, ElementsAre(2, 2)) << text;
    EXPECT_THAT(tensor->integers, ElementsAre(1, 0, 0, 1)) << text;
  }
}

TEST(CsvTensor, RefusesWhatIsNotARectangleOfNumbers) {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case& c : {
           Case{"1,2\n3\n", "target: line 2 has 1 values, line 1 has 2"},
           Case{"h\n1,2\n3,x\n", "target: line 3, column 2: \"x\" is not"},
           Case{"1,,2\n4,5,6\n", "target: line 1, column 2"},
           Case{"a,b\n", "target: the CSV has no rows of numbers"},
           Case{"", "target: the CSV has no rows of numbers"},
       }) {
    const absl::StatusOr<JsonTensor> tensor = ParseCsvTensor(c.text, "target");
    ASSERT_FALSE(tensor.ok()) << c.text;
    EXPECT_THAT(tensor.status().message(), HasSubstr(c.error)) << c.text;
  }
}

TEST(CsvTensor, WritesRowsInShortestFormAndReadsThemBack) {
  const HostTensor grad =
      FromDoubles({0.1, -2, NAN, 1e-7, INFINITY, 0}, {2, 3}, v1::DTYPE_FLOAT32);
  const absl::StatusOr<std::string> csv = TensorToCsv(grad);
  ASSERT_TRUE(csv.ok()) << csv.status();
  EXPECT_EQ(*csv, "0.1,-2.0,nan\n1e-07,inf,0.0\n");
  const absl::StatusOr<JsonTensor> back = ParseCsvTensor(*csv, "grad");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_THAT(back->shape, ElementsAre(2, 3));
  EXPECT_EQ(static_cast<float>(back->values[0]), 0.1f);
  EXPECT_EQ(static_cast<float>(back->values[3]), 1e-7f);
}

TEST(CsvTensor, WritesOneDimensionalTensorsOneValuePerLine) {
  const HostTensor values = FromDoubles({3, 1}, {2}, v1::DTYPE_INT64);
  const absl::StatusOr<std::string> csv = TensorToCsv(values);
  ASSERT_TRUE(csv.ok()) << csv.status();
  EXPECT_EQ(*csv, "3\n1\n");
}

TEST(CsvTensor, RefusesToWriteMoreThanTwoDimensions) {
  const HostTensor cube =
      FromDoubles(std::vector<double>(8, 1.0), {2, 2, 2}, v1::DTYPE_FLOAT32);
  const absl::StatusOr<std::string> csv = TensorToCsv(cube);
  ASSERT_FALSE(csv.ok());
  EXPECT_THAT(csv.status().message(), HasSubstr("[2, 2, 2]"));
  EXPECT_THAT(csv.status().message(), HasSubstr(".npy"));
}

}  // namespace
}  // namespace lossctl
