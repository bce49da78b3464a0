// Integration tests: every RPC and error code of a real lossd over a real
// channel, limits, deadlines, concurrency, malformed input and shutdown.

#include <signal.h>
#include <sys/wait.h>

#include <cmath>
#include <cstring>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lossd/v1/loss_service.grpc.pb.h"
#include "quiet_protobuf.h"
#include "server_process.h"

namespace lossd::testing {
namespace {

using ::testing::DoubleNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

v1::Tensor RawFloats(std::vector<int64_t> shape,
                     const std::vector<float>& values) {
  v1::Tensor tensor;
  tensor.set_dtype(v1::DTYPE_FLOAT32);
  tensor.mutable_shape()->Assign(shape.begin(), shape.end());
  tensor.set_raw(std::string(reinterpret_cast<const char*>(values.data()),
                             values.size() * sizeof(float)));
  return tensor;
}

v1::Tensor Labels(const std::vector<int64_t>& values) {
  v1::Tensor tensor;
  tensor.set_dtype(v1::DTYPE_INT64);
  tensor.add_shape(static_cast<int64_t>(values.size()));
  tensor.set_raw(std::string(reinterpret_cast<const char*>(values.data()),
                             values.size() * sizeof(int64_t)));
  return tensor;
}

std::vector<float> Floats(const v1::Tensor& tensor) {
  std::vector<float> values(tensor.raw().size() / sizeof(float));
  std::memcpy(values.data(), tensor.raw().data(), tensor.raw().size());
  return values;
}

// TensorFlow's documented example: per-example [0.16984604, 0.82474494].
v1::ComputeRequest TensorFlowExample() {
  v1::ComputeRequest request;
  request.set_loss("cross_entropy");
  request.set_reduction(v1::REDUCTION_NONE);
  *request.mutable_input() = RawFloats({2, 3}, {4, 2, 1, 0, 5, 1});
  *request.mutable_target() = RawFloats({2, 3}, {1, 0, 0, 0, .8f, .2f});
  return request;
}

// A request whose mean cross-entropy is known in closed form: logits
// [0, shift] with label 1 give log(1 + exp(-shift)).
v1::ComputeRequest ShiftedRequest(float shift) {
  v1::ComputeRequest request;
  request.set_loss("cross_entropy");
  *request.mutable_input() = RawFloats({1, 2}, {0, shift});
  *request.mutable_target() = Labels({1});
  return request;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(LOSSD_SERVER_PATH, {},
                             {"LOSSD_MAX_REQUEST_BYTES=1048576"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = server_->NewChannel();
    stub_ = v1::LossService::NewStub(channel_);
  }
  void TearDown() override {
    if (HasFailure() && server_ != nullptr) {
      std::cerr << "server log:\n" << server_->Log();
    }
  }

  grpc::Status Call(const v1::ComputeRequest& request,
                    v1::ComputeResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    return stub_->Compute(&context, request, response);
  }

  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::LossService::Stub> stub_;
};

TEST_F(ServerTest, ListLossesDescribesTheRegistry) {
  grpc::ClientContext context;
  v1::ListLossesResponse response;
  ASSERT_TRUE(stub_->ListLosses(&context, {}, &response).ok());
  std::vector<std::string> names;
  for (const auto& loss : response.losses()) names.push_back(loss.name());
  EXPECT_THAT(names,
              ::testing::IsSupersetOf({"cross_entropy", "binary_cross_entropy",
                                       "mse", "classification_error"}));
  for (const auto& loss : response.losses()) {
    if (loss.name() != "cross_entropy") continue;
    std::vector<std::string> options;
    for (const auto& option : loss.options()) options.push_back(option.name());
    EXPECT_THAT(options,
                ::testing::IsSupersetOf(
                    {"class_weight", "ignore_index", "label_smoothing"}));
    EXPECT_TRUE(loss.has_gradient());
  }
}

TEST_F(ServerTest, ComputeMatchesTensorFlowDocumentation) {
  v1::ComputeResponse response;
  grpc::Status status = Call(TensorFlowExample(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(Floats(response.per_example()),
              Pointwise(DoubleNear(1e-6), {0.16984604, 0.82474494}));
  EXPECT_EQ(response.grad_input().shape_size(), 2);
  EXPECT_EQ(response.statistics().valid_count(), 2);
}

TEST_F(ServerTest, RequestIdIsEchoedFromFieldOrMetadata) {
  v1::ComputeRequest request = ShiftedRequest(1);
  request.set_request_id("from-field");
  v1::ComputeResponse response;
  ASSERT_TRUE(Call(request, &response).ok());
  EXPECT_EQ(response.request_id(), "from-field");
  grpc::ClientContext context;
  context.AddMetadata("x-request-id", "from-metadata");
  request.clear_request_id();
  ASSERT_TRUE(stub_->Compute(&context, request, &response).ok());
  EXPECT_EQ(response.request_id(), "from-metadata");
}

TEST_F(ServerTest, ErrorCodes) {
  v1::ComputeResponse response;
  v1::ComputeRequest unknown = ShiftedRequest(1);
  unknown.set_loss("no_such_loss");
  EXPECT_EQ(Call(unknown, &response).error_code(), grpc::StatusCode::NOT_FOUND);

  v1::ComputeRequest short_bytes = ShiftedRequest(1);
  short_bytes.mutable_input()->mutable_raw()->resize(7);
  grpc::Status status = Call(short_bytes, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              ::testing::HasSubstr("input.raw has 7 bytes"));

  v1::ComputeRequest bad_label = ShiftedRequest(1);
  *bad_label.mutable_target() = Labels({2});
  status = Call(bad_label, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              ::testing::HasSubstr("target[0] = 2 is outside [0, 2)"));

  // LOSSD_MAX_REQUEST_BYTES=1 MiB came from the environment.
  v1::ComputeRequest too_large;
  too_large.set_loss("cross_entropy");
  *too_large.mutable_input() =
      RawFloats({1, 300000}, std::vector<float>(300000, 0.f));
  *too_large.mutable_target() = Labels({0});
  EXPECT_EQ(Call(too_large, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(ServerTest, ExpiredDeadline) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() -
                       std::chrono::milliseconds(1));
  v1::ComputeResponse response;
  EXPECT_EQ(stub_->Compute(&context, ShiftedRequest(1), &response).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(ServerTest, AThousandMalformedRequestsLeaveItAnsweringCorrectly) {
  std::mt19937 random(42);
  const std::string wire = TensorFlowExample().SerializeAsString();
  int rejected = 0;
  for (int i = 0; i < 1000; ++i) {
    v1::ComputeRequest request = TensorFlowExample();
    switch (i % 5) {
      case 0:  // Bytes that do not match the shape.
        request.mutable_input()->mutable_raw()->resize(random() % 40);
        break;
      case 1:  // Absurd shapes.
        request.mutable_input()->set_shape(0, -static_cast<int64_t>(random()));
        break;
      case 2:  // Garbage options and enums.
        request.mutable_cross_entropy()->set_label_smoothing(
            static_cast<double>(random()) - 1e9);
        request.set_reduction(static_cast<v1::Reduction>(random() % 1000));
        break;
      case 3:  // Wrong target kinds.
        *request.mutable_target() = Labels({static_cast<int64_t>(random())});
        break;
      case 4: {  // Random bit flips of the whole message.
        std::string mutated = wire;
        for (int f = 0; f < 3; ++f) {
          mutated[random() % mutated.size()] = static_cast<char>(random());
        }
        if (!request.ParseFromString(mutated)) request.set_loss("\x01");
        break;
      }
    }
    v1::ComputeResponse response;
    if (!Call(request, &response).ok()) ++rejected;
  }
  EXPECT_GT(rejected, 790);
  EXPECT_TRUE(server_->Running());
  v1::ComputeResponse response;
  ASSERT_TRUE(Call(TensorFlowExample(), &response).ok());
  EXPECT_THAT(Floats(response.per_example()),
              Pointwise(DoubleNear(1e-6), {0.16984604, 0.82474494}));
}

TEST_F(ServerTest, ConcurrentCallsGetTheirOwnAnswers) {
  constexpr int kThreads = 8, kCalls = 40;
  std::atomic<int> wrong{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        const float shift = static_cast<float>(t * kCalls + i) / 50.f;
        v1::ComputeResponse response;
        if (grpc::Status status = Call(ShiftedRequest(shift), &response);
            !status.ok()) {
          ADD_FAILURE() << status.error_code() << " " << status.error_message();
          ++failed;
          continue;
        }
        const double expected =
            std::log1p(std::exp(-static_cast<double>(shift)));
        if (std::abs(response.loss() - expected) > 1e-6) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(wrong, 0);
}

TEST_F(ServerTest, StreamAnswersInOrderAndEndsOnError) {
  grpc::ClientContext context;
  auto stream = stub_->ComputeStream(&context);
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(stream->Write(ShiftedRequest(static_cast<float>(i) / 10)));
  }
  for (int i = 0; i < 30; ++i) {
    v1::ComputeResponse response;
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_NEAR(response.loss(), std::log1p(std::exp(-i / 10.0)), 1e-6) << i;
  }
  v1::ComputeRequest bad = ShiftedRequest(1);
  bad.set_loss("no_such_loss");
  ASSERT_TRUE(stream->Write(bad));
  stream->WritesDone();
  v1::ComputeResponse response;
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, HealthServesThenSigtermExitsZero) {
  absl::StatusOr<int> health = CheckHealth(channel_, "");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, 1);  // SERVING
  health = CheckHealth(channel_, "lossd.v1.LossService");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, 1);
  absl::StatusOr<int> status = server_->SignalAndWait(SIGTERM, 15);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

// Request lines are written by a background thread, a few milliseconds
// after the call: one appears without the server stopping.
TEST_F(ServerTest, ARequestIsLoggedWhileTheServerRuns) {
  v1::ComputeRequest request = ShiftedRequest(1);
  request.set_request_id("logged-while-running");
  v1::ComputeResponse response;
  ASSERT_TRUE(Call(request, &response).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (
      !absl::StrContains(server_->Log(), "request_id=logged-while-running") &&
      absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_THAT(
      server_->Log(),
      HasSubstr("method=Compute loss=cross_entropy shape=[1,2] code=0"));
  EXPECT_THAT(server_->Log(), HasSubstr("request_id=logged-while-running"));
}

// One line per call, failures included, in the order of the calls; and the
// lines still pending when SIGTERM comes are written before lossd exits,
// its last line "stopped".
TEST_F(ServerTest, EveryCallIsLoggedInOrderByTheTimeSigtermExits) {
  constexpr int kCalls = 300;
  v1::ComputeResponse response;
  for (int i = 0; i < kCalls; ++i) {
    v1::ComputeRequest request = ShiftedRequest(1);
    request.set_request_id(absl::StrCat("ordered-", i));
    const bool refused = i % 50 == 49;
    if (refused) request.set_loss("no_such_loss");
    EXPECT_EQ(Call(request, &response).error_code(),
              refused ? grpc::StatusCode::NOT_FOUND : grpc::StatusCode::OK);
  }
  absl::StatusOr<int> status = server_->SignalAndWait(SIGTERM, 15);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  const std::vector<std::string> lines =
      absl::StrSplit(server_->Log(), '\n', absl::SkipEmpty());
  int next = 0;
  for (const std::string& line : lines) {
    if (!absl::StrContains(line, "request_id=ordered-")) continue;
    const bool refused = next % 50 == 49;
    EXPECT_THAT(line,
                HasSubstr(absl::StrCat("request_id=ordered-", next, " ")));
    EXPECT_THAT(line, HasSubstr(refused ? "code=5" : "code=0"));
    ++next;
  }
  EXPECT_EQ(next, kCalls);
  ASSERT_FALSE(lines.empty());
  EXPECT_THAT(lines.back(), HasSubstr(" I stopped"));
}

TEST_F(ServerTest, SigtermLetsInFlightStreamFinish) {
  grpc::ClientContext context;
  auto stream = stub_->ComputeStream(&context);
  ASSERT_TRUE(stream->Write(ShiftedRequest(1)));
  v1::ComputeResponse response;
  ASSERT_TRUE(stream->Read(&response));
  kill(server_->pid(), SIGTERM);
  // The open call may still finish its work within the grace period.
  ASSERT_TRUE(stream->Write(ShiftedRequest(2)));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_NEAR(response.loss(), std::log1p(std::exp(-2.0)), 1e-6);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  absl::StatusOr<int> status = server_->SignalAndWait(0, 15);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

}  // namespace
}  // namespace lossd::testing
