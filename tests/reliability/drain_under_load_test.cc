// SIGTERM under load: while workers keep one lossd busy, SIGTERM it. The
// "readiness" health service must turn NOT_SERVING, every call must either
// be answered correctly (those in flight complete) or be refused with
// UNAVAILABLE (nothing else: no CANCELLED, INTERNAL, lost or wrong answer),
// a call being computed at the signal must complete, correctly (the drain
// let it finish), a new call is refused with UNAVAILABLE, and the process
// exits 0 within --grace_period_seconds.
//
// Figures: one line starting "sigterm_under_load:" (docs/RELIABILITY.md).

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "conversion.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "lossd/v1/loss_service.grpc.pb.h"
#include "reliability_support.h"

namespace lossd::reliability {
namespace {

using Clock = std::chrono::steady_clock;
namespace health = ::grpc::health::v1;

constexpr int kWorkers = 6;
constexpr double kGraceSeconds = 10;
// Calls answered before the signal, so that the load is established.
constexpr int64_t kAnsweredBeforeSignal = 60;

struct CallRecord {
  Clock::time_point start, end;
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
  bool correct = false;
};

bool Close(double actual, double expected) {
  if (std::isnan(expected)) return std::isnan(actual);
  return std::abs(actual - expected) <=
         1e-6 * std::max(1.0, std::abs(expected));
}

// The answer matches the library's own for the same request.
bool Matches(const v1::ComputeResponse& answer,
             const v1::ComputeResponse& reference) {
  return Close(answer.loss(), reference.loss()) &&
         answer.statistics().valid_count() ==
             reference.statistics().valid_count() &&
         Close(answer.statistics().loss_sum(),
               reference.statistics().loss_sum()) &&
         answer.grad_input().raw().size() ==
             reference.grad_input().raw().size() &&
         answer.grad_input().shape_size() ==
             reference.grad_input().shape_size();
}

std::shared_ptr<grpc::Channel> Channel(const std::string& target) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(-1);
  arguments.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   arguments);
}

TEST(DrainUnderLoad, SigtermFinishesInFlightCallsAndRefusesNewOnes) {
  absl::StatusOr<Server> started =
      StartServer({"--log_level=warn",
                   absl::StrCat("--grace_period_seconds=", kGraceSeconds)});
  ASSERT_TRUE(started.ok()) << started.status();
  Server server = *std::move(started);

  // The load: requests of up to 256 KB, computed on gRPC's own threads.
  const std::vector<v1::ComputeRequest> requests = {
      Generated("cross_entropy", {64, 1000}, "class_index", 11),
      Generated("cross_entropy", {32, 1000}, "probabilities", 12),
      Generated("binary_cross_entropy", {64, 500}, "multi_label", 13)};
  std::vector<v1::ComputeResponse> references(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(server::ComputeFromProto(requests[i], &references[i]).ok());
  }
  // And one call that is being computed when the signal comes: 8M logits of
  // poly (a scalar kernel: its 32 MiB arrive in a small part of the call's
  // time), signalled 60 % of its unloaded time in.
  const v1::ComputeRequest long_request =
      Generated("poly", {2048, 4096}, "class_index", 14);
  v1::ComputeResponse long_reference;
  ASSERT_TRUE(server::ComputeFromProto(long_request, &long_reference).ok());
  auto long_stub = v1::LossService::NewStub(Channel(server->target()));
  auto long_call = [&](v1::ComputeResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    return long_stub->Compute(&context, long_request, response);
  };
  auto long_time = Clock::duration::max();
  for (int i = 0; i < 2; ++i) {
    const Clock::time_point start = Clock::now();
    v1::ComputeResponse response;
    ASSERT_TRUE(long_call(&response).ok());
    long_time = std::min(long_time, Clock::now() - start);
  }

  // Readiness, watched from before the signal on a channel of its own.
  absl::Mutex mu;
  std::vector<health::HealthCheckResponse::ServingStatus> readiness;
  bool saw_not_serving = false;
  grpc::ClientContext watch_context;
  std::thread watcher([&] {
    auto stub = health::Health::NewStub(Channel(server->target()));
    health::HealthCheckRequest request;
    request.set_service("readiness");
    auto reader = stub->Watch(&watch_context, request);
    health::HealthCheckResponse response;
    while (reader->Read(&response)) {
      absl::MutexLock lock(&mu);
      readiness.push_back(response.status());
      if (response.status() == health::HealthCheckResponse::NOT_SERVING) {
        saw_not_serving = true;
        break;
      }
    }
    watch_context.TryCancel();  // The watch must not hold the drain up.
    (void)reader->Finish();
  });
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(
            +[](std::vector<health::HealthCheckResponse::ServingStatus>* v) {
              return !v->empty();
            },
            &readiness),
        absl::Seconds(10)));
    ASSERT_EQ(readiness[0], health::HealthCheckResponse::SERVING);
  }

  // The load: closed-loop workers, each on its own channel (connection).
  std::atomic<bool> signalled{false};
  std::atomic<int64_t> answered{0};
  std::vector<std::vector<CallRecord>> records(kWorkers);
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      auto stub = v1::LossService::NewStub(Channel(server->target()));
      const auto give_up = Clock::now() + std::chrono::seconds(90);
      for (int i = w; Clock::now() < give_up; ++i) {
        const size_t index = i % requests.size();
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(30));
        v1::ComputeResponse response;
        CallRecord record;
        record.start = Clock::now();
        const grpc::Status status =
            stub->Compute(&context, requests[index], &response);
        record.end = Clock::now();
        record.code = status.error_code();
        record.message = status.error_message();
        record.correct = status.ok() && Matches(response, references[index]);
        records[w].push_back(record);
        if (status.ok()) ++answered;
        // A refusal ends this worker (after the signal, that is the point;
        // before it, the assertions below report it).
        if (!status.ok()) break;
      }
    });
  }
  for (int i = 0; i < 3000 && answered.load() < kAnsweredBeforeSignal; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(answered.load(), kAnsweredBeforeSignal);
  CallRecord long_record;
  std::thread long_caller([&] {
    v1::ComputeResponse response;
    long_record.start = Clock::now();
    const grpc::Status status = long_call(&response);
    long_record.end = Clock::now();
    long_record.code = status.error_code();
    long_record.message = status.error_message();
    long_record.correct = status.ok() && Matches(response, long_reference);
  });
  std::this_thread::sleep_for(long_time * 6 / 10);
  const Clock::time_point signal_time = Clock::now();
  ASSERT_EQ(kill(server->pid(), SIGTERM), 0);
  signalled.store(true);

  // Readiness turns NOT_SERVING; then a new call, on a new connection, is
  // refused.
  {
    absl::MutexLock lock(&mu);
    mu.AwaitWithTimeout(absl::Condition(&saw_not_serving), absl::Seconds(10));
  }
  watcher.join();
  const bool running_at_new_call = server->Running();
  grpc::StatusCode new_call_code;
  {
    auto stub = v1::LossService::NewStub(Channel(server->target()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::ComputeResponse response;
    new_call_code =
        stub->Compute(&context, requests[0], &response).error_code();
  }

  for (std::thread& worker : workers) worker.join();
  long_caller.join();
  absl::StatusOr<int> exit_status = server->SignalAndWait(0, kGraceSeconds);
  const double drain_seconds =
      std::chrono::duration<double>(Clock::now() - signal_time).count();

  int64_t ok_before = 0, ok_after = 0, wrong = 0, refused = 0, other = 0;
  std::map<std::string, int64_t> refusal_messages, other_codes;
  for (const auto& worker_records : records) {
    for (const CallRecord& record : worker_records) {
      if (record.code == grpc::StatusCode::OK) {
        (record.end > signal_time ? ok_after : ok_before) += 1;
        wrong += !record.correct;
      } else if (record.code == grpc::StatusCode::UNAVAILABLE) {
        ++refused;
        ++refusal_messages[record.message.substr(0, 60)];
      } else {
        ++other;
        ++other_codes[absl::StrCat(record.code, ": ", record.message)];
      }
    }
  }
  std::vector<std::string> seen;
  {
    absl::MutexLock lock(&mu);
    for (auto status : readiness) {
      seen.push_back(health::HealthCheckResponse::ServingStatus_Name(status));
    }
  }
  std::printf(
      "sigterm_under_load: workers=%d+1 long (%.0f ms, %s) "
      "ok_before_signal=%lld "
      "in_flight_completed_after_signal=%lld refused_unavailable=%lld "
      "other_errors=%lld wrong_answers=%lld readiness=%s new_call=%s "
      "(server %s) exit=%d drain_seconds=%.2f grace_seconds=%.0f\n",
      kWorkers, std::chrono::duration<double, std::milli>(long_time).count(),
      long_record.correct && long_record.end > signal_time
          ? "answered after the signal"
          : "NOT answered after the signal",
      static_cast<long long>(ok_before), static_cast<long long>(ok_after),
      static_cast<long long>(refused), static_cast<long long>(other),
      static_cast<long long>(wrong), absl::StrJoin(seen, ">").c_str(),
      new_call_code == grpc::StatusCode::UNAVAILABLE ? "UNAVAILABLE"
                                                     : "NOT_UNAVAILABLE",
      running_at_new_call ? "still draining" : "already exited",
      exit_status.ok() && WIFEXITED(*exit_status) ? WEXITSTATUS(*exit_status)
                                                  : -1,
      drain_seconds, kGraceSeconds);
  for (const auto& [message, count] : refusal_messages) {
    std::printf("  refused: %lld x %s\n", static_cast<long long>(count),
                message.c_str());
  }
  std::fflush(stdout);

  EXPECT_TRUE(saw_not_serving);
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen.front(), "SERVING");
  EXPECT_EQ(seen.back(), "NOT_SERVING");
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(other, 0) << absl::StrJoin(other_codes, "; ",
                                       absl::PairFormatter("="));
  // The call being computed at the signal finished, with the right answer.
  EXPECT_EQ(long_record.code, grpc::StatusCode::OK) << long_record.message;
  EXPECT_TRUE(long_record.correct);
  EXPECT_GT(long_record.end, signal_time);
  // Every worker ended on a refusal: the server stopped taking calls.
  EXPECT_EQ(refused, kWorkers);
  EXPECT_EQ(new_call_code, grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(exit_status.ok()) << exit_status.status() << server->Log();
  ASSERT_TRUE(WIFEXITED(*exit_status));
  EXPECT_EQ(WEXITSTATUS(*exit_status), 0);
}

}  // namespace
}  // namespace lossd::reliability
