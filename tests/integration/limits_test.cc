// Admission limits and deadlines through a real lossd: every limit refuses
// with RESOURCE_EXHAUSTED naming its flag, before any work, and leaves the
// server answering correctly; a deadline or cancellation stops a large
// computation part way.

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lossd/v1/loss_service.grpc.pb.h"
#include "server_process.h"

namespace lossd::testing {
namespace {

using ::testing::HasSubstr;

// Cross-entropy of [rows, classes] float32 logits, all 0, against class 0:
// every row's loss is log(classes).
v1::ComputeRequest UniformRequest(int64_t rows, int64_t classes,
                                  const std::string& loss = "cross_entropy") {
  v1::ComputeRequest request;
  request.set_loss(loss);
  v1::Tensor* input = request.mutable_input();
  input->set_dtype(v1::DTYPE_FLOAT32);
  input->add_shape(rows);
  input->add_shape(classes);
  input->set_raw(std::string(4 * rows * classes, '\0'));
  v1::Tensor* target = request.mutable_target();
  target->set_dtype(v1::DTYPE_INT64);
  target->add_shape(rows);
  target->set_raw(std::string(8 * rows, '\0'));
  return request;
}

class LimitsTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> flags) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(LOSSD_SERVER_PATH, std::move(flags));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = v1::LossService::NewStub(server_->NewChannel());
  }
  void TearDown() override {
    if (HasFailure() && server_ != nullptr) {
      std::cerr << "server log:\n" << server_->Log();
    }
  }

  grpc::Status Call(
      const v1::ComputeRequest& request, v1::ComputeResponse* response,
      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + timeout);
    return stub_->Compute(&context, request, response);
  }

  // The server still answers, and correctly.
  void ExpectAnswering() {
    v1::ComputeResponse response;
    grpc::Status status = Call(UniformRequest(4, 10), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_NEAR(response.loss(), std::log(10.0), 1e-6);
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::LossService::Stub> stub_;
};

void ExpectRefused(const grpc::Status& status, const std::string& flag) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("--" + flag + "="));
}

TEST_F(LimitsTest, PerRequestLimitsRefuseBeforeComputing) {
  Start({"--max_elements=10000", "--max_response_bytes=40000"});
  v1::ComputeResponse response;
  ExpectRefused(Call(UniformRequest(11, 1000), &response), "max_elements");
  grpc::Status status = Call(UniformRequest(10, 1000), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();

  // 6000 float32 in, a float64 gradient out: 48000 bytes of response.
  v1::ComputeRequest wide = UniformRequest(6, 1000);
  wide.set_grad_dtype(v1::DTYPE_FLOAT64);
  ExpectRefused(Call(wide, &response), "max_response_bytes");
  wide.mutable_outputs()->set_grad_input(false);  // Only the loss: fits.
  status = Call(wide, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_NEAR(response.loss(), std::log(1000.0), 1e-6);
  ExpectAnswering();
}

// A request's log line carries its level: a refusal is something an operator
// watching warnings should see, a caller's bad request is not.
TEST_F(LimitsTest, RequestLinesAreLoggedAtTheLevelOfTheirCode) {
  Start({"--log_level=info", "--max_elements=10000"});
  v1::ComputeResponse response;
  ASSERT_TRUE(Call(UniformRequest(10, 1000), &response).ok());
  ExpectRefused(Call(UniformRequest(11, 1000), &response), "max_elements");
  EXPECT_EQ(
      Call(UniformRequest(10, 1000, "no_such_loss"), &response).error_code(),
      grpc::StatusCode::NOT_FOUND);
  // Lines reach stderr within about 10 ms.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // "<time> <level letter> request method=Compute ... code=<n> ...".
  std::map<std::string, std::string> level_by_code;
  for (absl::string_view line : absl::StrSplit(server_->Log(), '\n')) {
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ');
    if (words.size() < 3 || words[2] != "request") continue;
    for (absl::string_view word : words) {
      if (absl::ConsumePrefix(&word, "code=")) {
        level_by_code[std::string(word)] = std::string(words[1]);
      }
    }
  }
  EXPECT_EQ(level_by_code["0"], "I");  // OK
  EXPECT_EQ(level_by_code["5"], "I");  // NOT_FOUND: the caller's mistake
  EXPECT_EQ(level_by_code["8"], "W");  // RESOURCE_EXHAUSTED
}

TEST_F(LimitsTest, ARequestLargerThanTheInFlightBytesAloneIsRefused) {
  Start({"--max_in_flight_bytes=60000"});
  v1::ComputeResponse response;
  // 28 KB in and 28 KB of gradient out fit; 32 KB and 32 KB do not.
  grpc::Status status = Call(UniformRequest(7, 1000), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ExpectRefused(Call(UniformRequest(8, 1000), &response),
                "max_in_flight_bytes");
  ExpectAnswering();
}

TEST_F(LimitsTest, ConcurrencyPastTheLimitIsRefusedAtOnceAndNothingIsLost) {
  Start({"--max_concurrent_requests=1"});
  // 4 MiB requests keep the one slot busy for milliseconds; eight callers
  // at once must find it taken, and every admitted call answers right.
  const v1::ComputeRequest request = UniformRequest(256, 4096);
  std::atomic<int> ok{0}, refused{0}, other{0}, wrong{0};
  for (int round = 0; round < 20 && refused.load() == 0; ++round) {
    std::vector<std::thread> callers;
    for (int i = 0; i < 8; ++i) {
      callers.emplace_back([&] {
        v1::ComputeResponse response;
        grpc::Status status = Call(request, &response);
        if (status.ok()) {
          ++ok;
          if (std::abs(response.loss() - std::log(4096.0)) > 1e-5) ++wrong;
        } else if (status.error_code() ==
                       grpc::StatusCode::RESOURCE_EXHAUSTED &&
                   absl::StrContains(status.error_message(),
                                     "--max_concurrent_requests=1")) {
          ++refused;
        } else {
          ++other;
          ADD_FAILURE() << status.error_code() << " " << status.error_message();
        }
      });
    }
    for (std::thread& caller : callers) caller.join();
  }
  EXPECT_GT(refused.load(), 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  ExpectAnswering();
}

TEST_F(LimitsTest, ADeadlineStopsALargeComputationPartWay) {
  Start({"--log_level=info"});
  // 8M float32 logits of a loss on the scalar kernels: tens of
  // milliseconds of computation.
  const v1::ComputeRequest request = UniformRequest(2048, 4096, "poly");
  v1::ComputeResponse response;
  // The quickest of three warm calls.
  auto whole = std::chrono::milliseconds::max();
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    grpc::Status status = Call(request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    whole =
        std::min(whole, std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - start));
  }
  // Repeat with a deadline the whole call cannot meet: the server must stop
  // (mid-computation or before it) rather than finish the work.
  for (int attempt = 0; attempt < 5; ++attempt) {
    grpc::Status status = Call(request, &response, whole / 3);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  // The server logged why it stopped: the interrupt hook saw the deadline
  // or the call's cancellation during the rows, or the call was cancelled
  // before it was computed.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const std::string log = server_->Log();
  const bool stopped_during =
      absl::StrContains(log, "the deadline passed during the computation") ||
      absl::StrContains(log, "the call was cancelled during the computation");
  const bool stopped_before =
      absl::StrContains(log, "cancelled before it was computed");
  EXPECT_TRUE(stopped_during || stopped_before)
      << "whole call " << whole.count() << " ms";
  ExpectAnswering();
}

}  // namespace
}  // namespace lossd::testing
