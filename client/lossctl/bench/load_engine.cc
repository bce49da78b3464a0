#include "bench/load_engine.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench/clock.h"
#include "rpc_status.h"

namespace lossctl::bench {
namespace {

// The state of one run; completion handlers on gRPC threads reach it.
class LoadRun {
 public:
  LoadRun(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
          const PreparedRequests* requests, const Verifier* verifier,
          const LoadSettings& settings, const LoadPoint& point)
      : requests_(requests),
        verifier_(verifier),
        settings_(settings),
        point_(point),
        clock_(RealClock()),
        start_(clock_.NowNanos()),
        measure_start_(start_ + absl::ToInt64Nanoseconds(settings.warmup)),
        recorder_(measure_start_) {
    const bool by_time = settings.requests == 0 && !settings.stability;
    if (by_time || settings.duration > absl::ZeroDuration()) {
      end_ = measure_start_ + absl::ToInt64Nanoseconds(settings.duration);
    }
    CompletionHandler handler = [this](const Ticket& ticket,
                                       const grpc::Status& status,
                                       const grpc::ByteBuffer* response,
                                       const grpc::ClientContext& context) {
      OnComplete(ticket, status, response, context);
    };
    // Unary calls share one lane per connection; each stream is a lane.
    const int lane_count =
        settings.stream ? point.concurrency : static_cast<int>(channels.size());
    for (int i = 0; i < lane_count; ++i) {
      const auto& channel = channels[i % channels.size()];
      lanes_.push_back(settings.stream
                           ? MakeStreamLane(channel, requests,
                                            settings.authorization, handler)
                           : MakeUnaryLane(channel, requests, settings.timeout,
                                           settings.authorization, handler));
    }
  }

  LoadResult Execute(ProgressLine* progress) {
    if (progress != nullptr) {
      const double planned =
          end_ == INT64_MAX ? 0 : (end_ - measure_start_) * 1e-9;
      progress->Begin(Label(), measure_start_, planned, start_);
    }
    std::thread dispatcher;
    if (point_.rate) {
      dispatcher = std::thread([this] { DispatchOpenLoop(); });
    } else {
      {
        absl::MutexLock lock(&mu_);
        active_workers_ = point_.concurrency;
      }
      for (int worker = 0; worker < point_.concurrency; ++worker) {
        NextClosedLoopCall(worker);
      }
    }

    LoadResult result;
    const int64_t window = std::max<int64_t>(
        absl::ToInt64Nanoseconds(settings_.measurement_interval), 1000000);
    int64_t next_window_end = measure_start_ + window;
    while (true) {
      bool finished;
      {
        absl::MutexLock lock(&mu_);
        finished = mu_.AwaitWithTimeout(
            absl::Condition(this, &LoadRun::FinishedLocked),
            absl::Milliseconds(100));
      }
      const int64_t now = clock_.NowNanos();
      if (progress != nullptr && progress->enabled()) {
        progress->Update(recorder_.Peek(), now);
      }
      if (finished) break;
      if (settings_.stability && now >= next_window_end && !stop_.load()) {
        result.windows.push_back(recorder_.TakeWindow(now));
        next_window_end = now + window;
        if (LastThreeAgree(result.windows, settings_.stability_percentage) ||
            static_cast<int>(result.windows.size()) >= settings_.max_windows) {
          stop_.store(true);
        }
      }
    }
    if (dispatcher.joinable()) dispatcher.join();
    for (auto& lane : lanes_) lane->Close();
    if (progress != nullptr) progress->End();

    result.totals = recorder_.Totals();
    if (settings_.stability && result.windows.size() >= 3) {
      result.stable =
          LastThreeAgree(result.windows, settings_.stability_percentage);
      for (size_t i = result.windows.size() - 3; i < result.windows.size();
           ++i) {
        result.figures.Merge(result.windows[i]);
      }
    } else {
      result.stable = !settings_.stability;
      result.figures = result.totals;
    }
    return result;
  }

 private:
  std::string Label() const {
    return point_.rate ? absl::StrCat("rate ", *point_.rate, "/s")
                       : absl::StrCat("concurrency ", point_.concurrency);
  }

  bool FinishedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return in_flight_ == 0 &&
           (point_.rate ? dispatch_done_ : active_workers_ == 0);
  }

  bool HasSlotLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return in_flight_ < settings_.max_in_flight;
  }

  int NextRequestIndex() {
    return static_cast<int>(request_counter_.fetch_add(1) %
                            requests_->buffers.size());
  }

  // Claims one measured call under --requests; false once they are all out.
  bool ClaimMeasured() {
    if (settings_.requests == 0) return true;
    const int64_t claimed = measured_claimed_.fetch_add(1) + 1;
    if (claimed >= settings_.requests) stop_.store(true);
    return claimed <= settings_.requests;
  }

  void NextClosedLoopCall(int worker) {
    const int64_t now = clock_.NowNanos();
    if (stop_.load() || now >= end_) {
      stop_.store(true);
      absl::MutexLock lock(&mu_);
      --active_workers_;
      return;
    }
    const bool measured = now >= measure_start_;
    if (measured && !ClaimMeasured()) {
      absl::MutexLock lock(&mu_);
      --active_workers_;
      return;
    }
    if (measured) recorder_.OnSent(/*late=*/false);
    {
      absl::MutexLock lock(&mu_);
      ++in_flight_;
    }
    const Ticket ticket{.intended_nanos = now,
                        .sent_nanos = now,
                        .request_index = NextRequestIndex(),
                        .measured = measured,
                        .worker = worker};
    lanes_[worker % lanes_.size()]->Submit(ticket);
  }

  void DispatchOpenLoop() {
    ArrivalSchedule schedule(*point_.rate, settings_.arrival, settings_.seed);
    PacingOptions options{
        .start_nanos = start_,
        .stop_offset_nanos = end_ == INT64_MAX ? INT64_MAX : end_ - start_,
        .late_threshold_nanos =
            absl::ToInt64Nanoseconds(settings_.late_threshold)};
    size_t next_lane = 0;
    RunPacing(
        clock_, schedule, options, [this] { return !stop_.load(); },
        [this] {
          absl::MutexLock lock(&mu_);
          mu_.Await(absl::Condition(this, &LoadRun::HasSlotLocked));
          ++in_flight_;
        },
        [&](int64_t intended, int64_t actual, bool late) {
          const bool measured = intended >= measure_start_;
          if (measured && !ClaimMeasured()) {
            absl::MutexLock lock(&mu_);
            --in_flight_;
            return;
          }
          if (measured) recorder_.OnSent(late);
          const Ticket ticket{.intended_nanos = intended,
                              .sent_nanos = actual,
                              .request_index = NextRequestIndex(),
                              .measured = measured};
          lanes_[next_lane++ % lanes_.size()]->Submit(ticket);
        });
    absl::MutexLock lock(&mu_);
    dispatch_done_ = true;
  }

  void OnComplete(const Ticket& ticket, const grpc::Status& status,
                  const grpc::ByteBuffer* response,
                  const grpc::ClientContext& context) {
    const int64_t now = clock_.NowNanos();
    if (ticket.measured) {
      Recorder::Outcome outcome;
      const Verifier::Verdict verdict =
          verifier_ == nullptr
              ? Verifier::Verdict::kCorrect
              : verifier_->Judge(ticket.request_index, status, response);
      if (!status.ok()) {
        outcome.error = StatusCodeName(status.error_code());
        outcome.expected = verdict == Verifier::Verdict::kExpectedError;
      } else if (verdict != Verifier::Verdict::kCorrect) {
        outcome.error = "VERIFY_FAILED";
      }
      // The peer of a failed call may be one that never answered.
      if (status.ok() || outcome.expected) outcome.peer = context.peer();
      recorder_.OnDone(
          outcome, now - ticket.intended_nanos,
          requests_->sizes[ticket.request_index],
          response != nullptr ? static_cast<int64_t>(response->Length()) : 0,
          now);
    }
    // The next call goes out before this one stops counting as in flight,
    // so that the run never looks finished in between.
    if (!point_.rate) NextClosedLoopCall(ticket.worker);
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }

  const PreparedRequests* requests_;
  const Verifier* verifier_;
  const LoadSettings& settings_;
  const LoadPoint point_;
  Clock& clock_;
  const int64_t start_;
  const int64_t measure_start_;
  int64_t end_ = INT64_MAX;
  Recorder recorder_;
  std::vector<std::unique_ptr<CallLane>> lanes_;

  std::atomic<bool> stop_{false};
  std::atomic<int64_t> measured_claimed_{0};
  std::atomic<uint64_t> request_counter_{0};

  absl::Mutex mu_;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int active_workers_ ABSL_GUARDED_BY(mu_) = 0;
  bool dispatch_done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

bool LastThreeAgree(const std::vector<WindowFigures>& windows,
                    double percentage) {
  if (windows.size() < 3) return false;
  double throughput[3], latency[3];
  for (int i = 0; i < 3; ++i) {
    const WindowFigures& w = windows[windows.size() - 3 + i];
    if (w.succeeded == 0 || w.seconds() <= 0) return false;
    throughput[i] = w.succeeded / w.seconds();
    latency[i] = w.latency.mean();
  }
  auto agree = [percentage](const double(&values)[3]) {
    const double average = (values[0] + values[1] + values[2]) / 3;
    for (double v : values) {
      if (std::abs(v - average) > percentage / 100 * average) return false;
    }
    return true;
  };
  return agree(throughput) && agree(latency);
}

LoadEngine::LoadEngine(std::vector<std::shared_ptr<grpc::Channel>> channels,
                       const PreparedRequests* requests,
                       const Verifier* verifier, LoadSettings settings)
    : channels_(std::move(channels)),
      requests_(requests),
      verifier_(verifier),
      settings_(settings) {}

LoadResult LoadEngine::Run(const LoadPoint& point,
                           ProgressLine* progress) const {
  LoadRun run(channels_, requests_, verifier_, settings_, point);
  return run.Execute(progress);
}

}  // namespace lossctl::bench
