// Admission control: the cost of a request as known before computing it,
// and the limits that admit or refuse it.

#include "admission.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "lossd/v1/loss_service.pb.h"

namespace lossd::server {
namespace {

// Cross-entropy of [rows, classes] float32 logits (raw) and class indices.
v1::ComputeRequest CrossEntropy(int64_t rows, int64_t classes) {
  v1::ComputeRequest request;
  request.set_loss("cross_entropy");
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

TEST(CostOf, DefaultOutputsAreTheGradientInTheInputDtype) {
  const v1::ComputeRequest request = CrossEntropy(8, 100);
  const RequestCost cost = CostOf(request);
  EXPECT_EQ(cost.elements, 800);
  EXPECT_EQ(cost.request_bytes, static_cast<int64_t>(request.ByteSizeLong()));
  EXPECT_EQ(cost.response_bytes, 800 * 4);
}

TEST(CostOf, CountsEveryOutputAskedForInItsDtype) {
  v1::ComputeRequest request = CrossEntropy(8, 100);
  request.set_reduction(v1::REDUCTION_NONE);  // Per-example losses too.
  request.set_grad_dtype(v1::DTYPE_FLOAT64);
  EXPECT_EQ(CostOf(request).response_bytes, (800 + 8) * 8);

  request.mutable_outputs()->set_per_example(true);
  request.mutable_outputs()->set_grad_input(false);
  EXPECT_EQ(CostOf(request).response_bytes, 8 * 8);
}

TEST(CostOf, MetricsHaveNoGradient) {
  v1::ComputeRequest request = CrossEntropy(8, 100);
  request.set_loss("accuracy");
  EXPECT_EQ(CostOf(request).response_bytes, 0);
}

TEST(CostOf, MalformedRequestsAreCostedLowForValidationToRefuse) {
  v1::ComputeRequest request = CrossEntropy(8, 100);
  request.set_loss("no_such_loss");
  EXPECT_EQ(CostOf(request).response_bytes, 0);
  request = CrossEntropy(8, 100);
  request.mutable_input()->set_dtype(static_cast<v1::DType>(99));
  EXPECT_EQ(CostOf(request).elements, 400);  // 3200 bytes of 8 at most.
  // A declared shape far beyond the bytes sent counts as what was sent.
  request = CrossEntropy(8, 100);
  request.mutable_input()->set_shape(0, int64_t{1} << 40);
  EXPECT_EQ(CostOf(request).elements, 800);
}

Limits SmallLimits() {
  Limits limits;
  limits.max_elements = 1000;
  limits.max_request_bytes = 10000;
  limits.max_response_bytes = 8000;
  limits.max_concurrent_requests = 2;
  limits.max_in_flight_bytes = 20000;
  return limits;
}

void ExpectRefusedFor(const absl::Status& status, absl::string_view limit) {
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_EQ(RefusedLimit(status), limit) << status;
}

TEST(Admission, EachPerRequestLimitIsNamedWhenPassed) {
  Admission admission(SmallLimits());
  AdmissionTicket ticket;
  ExpectRefusedFor(admission.Admit({.elements = 1001}, &ticket),
                   "max_elements");
  ExpectRefusedFor(admission.Admit({.request_bytes = 10001}, &ticket),
                   "max_request_bytes");
  ExpectRefusedFor(admission.Admit({.response_bytes = 8001}, &ticket),
                   "max_response_bytes");
  Limits tight = SmallLimits();
  tight.max_in_flight_bytes = 15000;
  Admission tight_admission(tight);
  ExpectRefusedFor(
      tight_admission.Admit({.request_bytes = 10000, .response_bytes = 8000},
                            &ticket),
      "max_in_flight_bytes");
  EXPECT_EQ(admission.requests_in_flight(), 0);
  EXPECT_EQ(admission.bytes_in_flight(), 0);
}

TEST(Admission, TicketsHoldTheirShareUntilReleased) {
  Admission admission(SmallLimits());
  AdmissionTicket first, second, third;
  ASSERT_TRUE(admission.Admit({.request_bytes = 6000}, &first).ok());
  // 6000 + 6000 + 9000 > 20000 bytes in flight.
  ASSERT_TRUE(admission.Admit({.request_bytes = 6000}, &second).ok());
  EXPECT_EQ(admission.requests_in_flight(), 2);
  EXPECT_EQ(admission.bytes_in_flight(), 12000);
  ExpectRefusedFor(admission.Admit({.request_bytes = 10}, &third),
                   "max_concurrent_requests");
  second.Release();
  ExpectRefusedFor(
      admission.Admit({.request_bytes = 9000, .response_bytes = 6000}, &third),
      "max_in_flight_bytes");
  EXPECT_TRUE(admission.Admit({.request_bytes = 9000}, &third).ok());
  {
    AdmissionTicket moved = std::move(third);
    EXPECT_EQ(admission.bytes_in_flight(), 15000);
  }  // Released once, by the ticket it was moved to.
  first = AdmissionTicket();
  EXPECT_EQ(admission.requests_in_flight(), 0);
  EXPECT_EQ(admission.bytes_in_flight(), 0);
}

TEST(Admission, AnAnsweredRequestHoldsItsBytesButNotItsSlot) {
  Admission admission(SmallLimits());
  AdmissionTicket first, second, third;
  ASSERT_TRUE(admission.Admit({.request_bytes = 100}, &first).ok());
  ASSERT_TRUE(admission.Admit({.request_bytes = 100}, &second).ok());
  first.DoneComputing();
  first.DoneComputing();  // Once only.
  EXPECT_EQ(admission.requests_in_flight(), 1);
  EXPECT_EQ(admission.bytes_in_flight(), 200);
  EXPECT_TRUE(admission.Admit({.request_bytes = 100}, &third).ok());
  first.Release();
  EXPECT_EQ(admission.requests_in_flight(), 2);
  EXPECT_EQ(admission.bytes_in_flight(), 200);
}

TEST(Admission, ConcurrentCallersNeverExceedTheLimits) {
  Limits limits = SmallLimits();
  limits.max_concurrent_requests = 3;
  limits.max_in_flight_bytes = 2500;
  Admission admission(limits);
  // Counted by the callers themselves: the admission's own counters may
  // briefly include a claim that is being given back.
  std::atomic<int64_t> holding{0}, most_holding{0}, admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        AdmissionTicket ticket;
        if (!admission.Admit({.request_bytes = 1000}, &ticket).ok()) continue;
        admitted.fetch_add(1);
        const int64_t now = holding.fetch_add(1) + 1;
        int64_t seen = most_holding.load();
        while (now > seen && !most_holding.compare_exchange_weak(seen, now)) {
        }
        holding.fetch_sub(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_GT(admitted.load(), 0);
  // Two requests of 1000 bytes fit in 2500 bytes; a third never does.
  EXPECT_LE(most_holding.load(), 2);
  EXPECT_EQ(admission.requests_in_flight(), 0);
  EXPECT_EQ(admission.bytes_in_flight(), 0);
}

TEST(RefusedLimit, ReadsTheFlagName) {
  EXPECT_EQ(RefusedLimit(absl::ResourceExhaustedError(
                "too many: more than --max_elements=5")),
            "max_elements");
  EXPECT_EQ(RefusedLimit(absl::InternalError("no flag here")), "unknown");
}

}  // namespace
}  // namespace lossd::server
