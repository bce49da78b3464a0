// lossctl against a real lossd: list, health and compute with the examples
// users learn from (issue 3), the files it writes, and its exit codes.

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "command_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lossd/v1/loss_service.pb.h"
#include "nlohmann/json.hpp"
#include "npy.h"
#include "server_process.h"

namespace lossctl {
namespace {

using ::lossctl::testing::CommandResult;
using ::lossctl::testing::RunCommand;
using ::testing::HasSubstr;

constexpr char kProbabilities[] = "[[0.9,0.1],[0.1,0.9],[0.4,0.6]]";
constexpr char kOneHot[] = "[[1,0],[0,1],[1,0]]";

class LossctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<lossd::testing::ServerProcess>> server =
        lossd::testing::ServerProcess::Start(
            LOSSD_SERVER_PATH, {"--metrics_address=", "--log_level=warn"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  // Runs lossctl with --target pointing at the test server.
  static CommandResult Lossctl(std::vector<std::string> arguments) {
    arguments.insert(
        arguments.begin(),
        {LOSSCTL_PATH, absl::StrCat("--target=", server_->target())});
    return RunCommand(arguments);
  }

  static std::string TempPath(absl::string_view name) {
    return absl::StrCat(::testing::TempDir(), "/lossctl_it_", getpid(), "_",
                        name);
  }

  static lossd::testing::ServerProcess* server_;
};

lossd::testing::ServerProcess* LossctlTest::server_ = nullptr;

// The value on the line "`name`  value" of compute's text output.
double Field(const std::string& output, absl::string_view name) {
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (absl::ConsumePrefix(&line, name) && !line.empty() && line[0] == ' ') {
      double value;
      if (absl::SimpleAtod(absl::StripAsciiWhitespace(line), &value)) {
        return value;
      }
    }
  }
  ADD_FAILURE() << "no \"" << name << "\" in:\n" << output;
  return NAN;
}

TEST_F(LossctlTest, ListPrintsTheRegistryWithOptions) {
  const CommandResult result = Lossctl({"list"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* expected :
       {"cross_entropy", "binary_cross_entropy", "mse", "classification_error",
        "class_index, probabilities", "label_smoothing", "[0, 1]",
        "ignore_index", "pos_weight", "target_weight_sum",
        "unmasked_elements"}) {
    EXPECT_THAT(result.out, HasSubstr(expected));
  }
}

TEST_F(LossctlTest, ListAsJson) {
  const CommandResult result = Lossctl({"list", "--format=json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json listing = nlohmann::json::parse(result.out);
  std::vector<std::string> names;
  for (const auto& loss : listing["losses"]) names.push_back(loss["name"]);
  EXPECT_THAT(names, ::testing::Contains("cross_entropy"));
  EXPECT_THAT(names, ::testing::Contains("mse"));
}

TEST_F(LossctlTest, HealthIsServing) {
  const CommandResult result = Lossctl({"health"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "SERVING\n");
}

TEST_F(LossctlTest, HealthFailsFastWithoutAServer) {
  const testing::RefusingPort refusing;
  ASSERT_GT(refusing.port(), 0);
  const CommandResult result =
      RunCommand({LOSSCTL_PATH, "--target=" + refusing.target(), "health"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("UNAVAILABLE"));
}

TEST_F(LossctlTest, HealthOfAnUnknownServiceIsNotServing) {
  const CommandResult result = Lossctl({"health", "--service=no.such.Service"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("NOT_FOUND"));
}

TEST_F(LossctlTest, ClassificationErrorOfTheProbabilityExample) {
  const CommandResult result = Lossctl(
      {"compute", "--loss=classification_error",
       absl::StrCat("--input=", kProbabilities),
       absl::StrCat("--labels=", kOneHot), "--input_kind=probabilities"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NEAR(Field(result.out, "loss"), 1.0 / 3, 1e-6);
  EXPECT_EQ(Field(result.out, "valid_count"), 3);
}

TEST_F(LossctlTest, MseWithBatchMeanOfTheProbabilityExample) {
  const std::string grad = TempPath("mse_grad.npy");
  const CommandResult result = Lossctl(
      {"compute", "--loss=mse", absl::StrCat("--input=", kProbabilities),
       absl::StrCat("--labels=", kOneHot), "--reduction=batch_mean",
       absl::StrCat("--grad_out=", grad)});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // Per-row sums 0.02, 0.02, 0.72 averaged over 3 rows.
  EXPECT_NEAR(Field(result.out, "loss"), 0.76 / 3, 1e-6);
  EXPECT_NEAR(Field(result.out, "loss_sum"), 0.76, 1e-6);
  EXPECT_EQ(Field(result.out, "denominator"), 3);
  EXPECT_THAT(result.out, HasSubstr("float32, shape [3, 2]"));
  // d/dx of sum (x - t)^2 / 3 is 2 (x - t) / 3.
  absl::StatusOr<HostTensor> gradient = ReadNpyFile(grad);
  ASSERT_TRUE(gradient.ok()) << gradient.status();
  EXPECT_EQ(gradient->shape, (std::vector<int64_t>{3, 2}));
  const std::vector<double> expected = {-0.2 / 3, 0.2 / 3,  0.2 / 3,
                                        -0.2 / 3, -1.2 / 3, 1.2 / 3};
  const std::vector<double> values = ToDoubles(*gradient);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(values[i], expected[i], 1e-6) << i;
  }
  std::remove(grad.c_str());
}

TEST_F(LossctlTest, CrossEntropyOnProbabilitiesWithPerExampleValues) {
  const CommandResult result =
      Lossctl({"compute", "--loss=cross_entropy",
               absl::StrCat("--input=", kProbabilities), "--labels=[0,1,0]",
               "--input_kind=probabilities", "--per_example"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // -(2 log 0.9 + log 0.4) / 3.
  EXPECT_NEAR(Field(result.out, "loss"),
              -(2 * std::log(0.9) + std::log(0.4)) / 3, 1e-6);
  EXPECT_NEAR(Field(result.out, "loss"), 0.3757, 5e-5);
  EXPECT_THAT(result.out, HasSubstr("[0.10536055, 0.10536055, 0.9162907"));
}

TEST_F(LossctlTest, OneHotTargetGivesTheSameCrossEntropy) {
  const CommandResult result = Lossctl(
      {"compute", "--loss=cross_entropy",
       absl::StrCat("--input=", kProbabilities),
       absl::StrCat("--labels=", kOneHot), "--input_kind=probabilities"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NEAR(Field(result.out, "loss"), 0.37567, 1e-5);
}

TEST_F(LossctlTest, TensorFlowSoftLabelExampleFromARequestFile) {
  // tf.nn.softmax_cross_entropy_with_logits' documented example.
  const std::string request = TempPath("tf_request.json");
  std::ofstream(request) << R"({"loss": "cross_entropy",
      "input": [[4.0, 2.0, 1.0], [0.0, 5.0, 1.0]],
      "target": [[1.0, 0.0, 0.0], [0.0, 0.8, 0.2]],
      "reduction": "none", "dtype": "float64"})";
  const CommandResult result =
      Lossctl({"compute", absl::StrCat("@", request), "--format=json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json response = nlohmann::json::parse(result.out);
  ASSERT_EQ(response["per_example"].size(), 2u);
  // TF prints float32 results; in float64 the answer is the exact
  // log-sum-exp minus the target-weighted logits.
  EXPECT_NEAR(response["per_example"][0].get<double>(), 0.16984604, 1e-7);
  EXPECT_NEAR(response["per_example"][1].get<double>(), 0.82474494, 1e-7);
  const double row0 = std::log(std::exp(4) + std::exp(2) + std::exp(1)) - 4;
  const double row1 =
      std::log(std::exp(0) + std::exp(5) + std::exp(1)) - (0.8 * 5 + 0.2 * 1);
  EXPECT_NEAR(response["per_example"][0].get<double>(), row0, 1e-12);
  EXPECT_NEAR(response["per_example"][1].get<double>(), row1, 1e-12);
  EXPECT_EQ(response["reduction"], "REDUCTION_NONE");
  EXPECT_NEAR(response["loss"].get<double>(), 0.16984604 + 0.82474494, 1e-7);
  std::remove(request.c_str());
}

TEST_F(LossctlTest, NpyInputsAndJsonGradientOnStdout) {
  // The same TF example in float32, the input from a .npy file.
  const std::string input = TempPath("logits.npy");
  ASSERT_TRUE(
      WriteNpyFile(input, FromDoubles(std::vector<double>{4, 2, 1, 0, 5, 1},
                                      {2, 3}, v1::DTYPE_FLOAT32))
          .ok());
  const CommandResult result = Lossctl(
      {"compute", "--loss=cross_entropy", absl::StrCat("--input=", input),
       "--labels=[[1,0,0],[0,0.8,0.2]]", "--reduction=none", "--format=json",
       "--grad_out=-"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json response = nlohmann::json::parse(result.out);
  EXPECT_NEAR(response["per_example"][0].get<double>(), 0.16984604, 1e-6);
  EXPECT_NEAR(response["per_example"][1].get<double>(), 0.82474494, 1e-6);
  // softmax(x) - t, row by row.
  const double e0 = std::exp(4) + std::exp(2) + std::exp(1);
  const double e1 = std::exp(0) + std::exp(5) + std::exp(1);
  const double expected[2][3] = {
      {std::exp(4) / e0 - 1, std::exp(2) / e0, std::exp(1) / e0},
      {std::exp(0) / e1, std::exp(5) / e1 - 0.8, std::exp(1) / e1 - 0.2}};
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(response["grad_input"][r][c].get<double>(), expected[r][c],
                  1e-6);
    }
  }
  std::remove(input.c_str());
}

TEST_F(LossctlTest, CsvInputsAndCsvGradient) {
  // PyTorch's F.cross_entropy on class indices, the logits and labels as
  // numpy.savetxt writes them (labels with fmt="%d": one column, 1-D).
  const std::string input = TempPath("logits.csv");
  const std::string labels = TempPath("labels.csv");
  const std::string grad = TempPath("grad.csv");
  std::ofstream(input) << "# x0,x1,x2\n"
                          "4.000000000000000000e+00,2.000000000000000000e+00,"
                          "1.000000000000000000e+00\n"
                          "0.000000000000000000e+00,5.000000000000000000e+00,"
                          "1.000000000000000000e+00\n";
  std::ofstream(labels) << "0\n2\n";
  const CommandResult result = Lossctl(
      {"compute", "--loss=cross_entropy", absl::StrCat("--input=@", input),
       absl::StrCat("--labels=", labels), "--reduction=none", "--format=json",
       absl::StrCat("--grad_out=", grad)});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json response = nlohmann::json::parse(result.out);
  const double e0 = std::exp(4) + std::exp(2) + std::exp(1);
  const double e1 = std::exp(0) + std::exp(5) + std::exp(1);
  EXPECT_NEAR(response["per_example"][0].get<double>(), std::log(e0) - 4, 1e-6);
  EXPECT_NEAR(response["per_example"][1].get<double>(), std::log(e1) - 1, 1e-6);
  // softmax(x) - onehot(y), a row per line.
  std::ifstream in(grad);
  const std::string text((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  const std::vector<std::string> lines =
      absl::StrSplit(text, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << text;
  const double expected[2][3] = {
      {std::exp(4) / e0 - 1, std::exp(2) / e0, std::exp(1) / e0},
      {std::exp(0) / e1, std::exp(5) / e1, std::exp(1) / e1 - 1}};
  for (int r = 0; r < 2; ++r) {
    const std::vector<std::string> cells = absl::StrSplit(lines[r], ',');
    ASSERT_EQ(cells.size(), 3u) << lines[r];
    for (int c = 0; c < 3; ++c) {
      double value;
      ASSERT_TRUE(absl::SimpleAtod(cells[c], &value)) << cells[c];
      EXPECT_NEAR(value, expected[r][c], 1e-6);
    }
  }
  // A ragged file is the user's mistake: exit 2, nothing sent.
  std::ofstream(labels) << "0\n2,1\n";
  const CommandResult ragged = Lossctl({"compute", "--loss=cross_entropy",
                                        absl::StrCat("--input=", input),
                                        absl::StrCat("--labels=", labels)});
  EXPECT_EQ(ragged.exit_code, 2);
  EXPECT_THAT(ragged.err, HasSubstr("line 2 has 2 values, line 1 has 1"));
  for (const std::string& path : {input, labels, grad}) {
    std::remove(path.c_str());
  }
}

TEST_F(LossctlTest, SaveRequestWritesTheProtobuf) {
  const std::string path = TempPath("request.pb");
  const CommandResult result =
      Lossctl({"compute", "--loss=cross_entropy", "--input=[[1,2,3]]",
               "--labels=[2]", "--options={\"label_smoothing\": 0.1}",
               absl::StrCat("--save_request=", path), "--dry_run"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::ifstream in(path, std::ios::binary);
  lossd::v1::ComputeRequest request;
  ASSERT_TRUE(request.ParseFromIstream(&in));
  EXPECT_EQ(request.loss(), "cross_entropy");
  EXPECT_DOUBLE_EQ(request.cross_entropy().label_smoothing(), 0.1);
  EXPECT_EQ(request.input().raw().size(), 12u);
  EXPECT_EQ(request.target().dtype(), lossd::v1::DTYPE_INT64);
  std::remove(path.c_str());
}

TEST_F(LossctlTest, ServerErrorsPrintTheirCodeAndExitOne) {
  struct Case {
    std::vector<std::string> arguments;
    const char* message;
  };
  const Case cases[] = {
      {{"--loss=no_such_loss", "--input=[[1,2]]", "--labels=[0]"},
       "NOT_FOUND: unknown loss \"no_such_loss\""},
      {{"--loss=cross_entropy", "--input=[[1,2]]", "--labels=[2]"},
       "INVALID_ARGUMENT: target[0] = 2 is outside [0, 2)"},
      {{"--loss=cross_entropy", "--input=[[1,2],[3,4]]", "--labels=[0,1,1]"},
       "INVALID_ARGUMENT"},
      {{"--loss=classification_error", "--input=[[1,2]]", "--labels=[0]",
        "--grad_out=/dev/null"},
       "INVALID_ARGUMENT: classification_error has no gradient"},
      {{"--loss=cross_entropy", "--input=[[1,2]]", "--labels=[0]",
        "--options={\"label_smoothing\": 2}"},
       "INVALID_ARGUMENT: "},
  };
  for (const Case& c : cases) {
    std::vector<std::string> arguments = {"compute"};
    arguments.insert(arguments.end(), c.arguments.begin(), c.arguments.end());
    const CommandResult result = Lossctl(arguments);
    EXPECT_EQ(result.exit_code, 1) << c.message << "\n" << result.out;
    EXPECT_THAT(result.err, HasSubstr(c.message));
    EXPECT_THAT(result.err, HasSubstr("lossctl compute: "));
  }
}

TEST_F(LossctlTest, BadInputExitsTwoWithoutSending) {
  const std::vector<std::vector<std::string>> cases = {
      {"compute", "--loss=mse", "--input=[[1,2],[3]]",
       "--labels=[[1,2],[3,4]]"},
      {"compute", "--loss=mse", "--input=[1, 2", "--labels=[1,2]"},
      {"compute", "--loss=mse", "--input=@/nonexistent.json", "--labels=[1]"},
      {"compute", "--input=[1]", "--labels=[1]"},
      {"compute", "--loss=mse", "--input=[1]", "--labels=[1]",
       "--reduction=avg"},
      {"compute", "--loss=mse", "--input=[1]", "--labels=[1]",
       "--options={\"no\": 1}"},
      {"no_such_command"},
  };
  for (const auto& arguments : cases) {
    const CommandResult result = Lossctl(arguments);
    EXPECT_EQ(result.exit_code, 2) << arguments[1] << "\n" << result.err;
    EXPECT_FALSE(result.err.empty());
  }
}

}  // namespace
}  // namespace lossctl
