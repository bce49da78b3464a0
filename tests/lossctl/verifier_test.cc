// --verify: answers are read without parsing their tensors and compared
// with the library's own result for the same request.

#include "bench/verifier.h"

#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "host_tensor.h"

namespace lossctl::bench {
namespace {

namespace v1 = ::lossd::v1;
using ::testing::HasSubstr;

// Logits [[4, 2, 1]] against class 0, mean: log(e^4 + e^2 + e^1) - 4.
v1::ComputeRequest Request() {
  v1::ComputeRequest request;
  request.set_loss("cross_entropy");
  ToProto(FromDoubles(std::vector<double>{4, 2, 1}, {1, 3}, v1::DTYPE_FLOAT32),
          request.mutable_input());
  ToProto(FromDoubles(std::vector<double>{0}, {1}, v1::DTYPE_INT64),
          request.mutable_target());
  return request;
}

const double kLoss = std::log(std::exp(4) + std::exp(2) + std::exp(1)) - 4;

v1::ComputeResponse Response(double loss) {
  v1::ComputeResponse response;
  response.set_loss(loss);
  response.mutable_statistics()->set_loss_sum(loss);
  response.mutable_statistics()->set_denominator(1);
  response.mutable_statistics()->set_valid_count(1);
  response.mutable_statistics()->set_weight_sum(1);
  // A large gradient and an id around the small fields, to be skipped.
  ToProto(FromDoubles(std::vector<double>(100000, 0.5), {1000, 100},
                      v1::DTYPE_FLOAT32),
          response.mutable_grad_input());
  response.set_request_id("abc");
  return response;
}

// The serialized message cut into three slices, as it may arrive.
grpc::ByteBuffer Bytes(const google::protobuf::Message& message) {
  const std::string bytes = message.SerializeAsString();
  const size_t third = bytes.size() / 3;
  std::vector<grpc::Slice> slices = {grpc::Slice(bytes.substr(0, third)),
                                     grpc::Slice(bytes.substr(third, third)),
                                     grpc::Slice(bytes.substr(2 * third))};
  return grpc::ByteBuffer(slices.data(), slices.size());
}

TEST(Verifier, ReadsLossAndStatisticsAcrossSlices) {
  double loss = 0;
  v1::ReductionStatistics statistics;
  ASSERT_TRUE(ReadLossAndStatistics(Bytes(Response(0.25)), &loss, &statistics));
  EXPECT_EQ(loss, 0.25);
  EXPECT_EQ(statistics.valid_count(), 1);
  EXPECT_EQ(statistics.denominator(), 1);
}

TEST(Verifier, AcceptsTheLibrarysAnswerAndRejectsOthers) {
  const Verifier verifier = Verifier::Create({Request()}, 1e-6);
  EXPECT_THAT(verifier.Describe(0), HasSubstr("reference loss 0.1698"));
  EXPECT_TRUE(verifier.Check(0, Bytes(Response(kLoss))));
  EXPECT_FALSE(verifier.Check(0, Bytes(Response(kLoss * 1.001))));
  EXPECT_FALSE(verifier.Check(0, Bytes(Response(NAN))));
  EXPECT_FALSE(verifier.Check(0, Bytes(Response(INFINITY))));
  v1::ComputeResponse wrong_count = Response(kLoss);
  wrong_count.mutable_statistics()->set_valid_count(2);
  EXPECT_FALSE(verifier.Check(0, Bytes(wrong_count)));
  const std::string garbage = "\xff\xff\xff";
  grpc::Slice slice(garbage);
  EXPECT_FALSE(verifier.Check(0, grpc::ByteBuffer(&slice, 1)));
}

TEST(Verifier, ARequestTheLibraryRefusesNeverVerifies) {
  v1::ComputeRequest request = Request();
  request.set_loss("no_such_loss");
  const Verifier verifier = Verifier::Create({request}, 1e-6);
  EXPECT_THAT(verifier.Describe(0), HasSubstr("refuses"));
  EXPECT_FALSE(verifier.Check(0, Bytes(Response(kLoss))));
}

}  // namespace
}  // namespace lossctl::bench
