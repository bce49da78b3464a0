#include "bench/recorder.h"

#include <algorithm>

namespace lossctl::bench {

void WindowFigures::Merge(const WindowFigures& other) {
  sent += other.sent;
  succeeded += other.succeeded;
  failed += other.failed;
  for (const auto& [code, count] : other.errors) errors[code] += count;
  refused += other.refused;
  for (const auto& [code, count] : other.refused_by_code) {
    refused_by_code[code] += count;
  }
  for (const auto& [peer, count] : other.answered_by) {
    answered_by[peer] += count;
  }
  late += other.late;
  request_bytes += other.request_bytes;
  response_bytes += other.response_bytes;
  latency.Merge(other.latency);
  error_latency.Merge(other.error_latency);
  if (begin_nanos == 0 && end_nanos == 0) {
    begin_nanos = other.begin_nanos;
    end_nanos = other.end_nanos;
  } else {
    begin_nanos = std::min(begin_nanos, other.begin_nanos);
    end_nanos = std::max(end_nanos, other.end_nanos);
  }
}

Recorder::Recorder(int64_t begin_nanos) : last_done_nanos_(begin_nanos) {
  window_.begin_nanos = begin_nanos;
  totals_.begin_nanos = begin_nanos;
}

void Recorder::OnSent(bool late) {
  absl::MutexLock lock(&mu_);
  ++window_.sent;
  ++totals_.sent;
  window_.late += late;
  totals_.late += late;
}

void Recorder::Add(WindowFigures& figures, const Outcome& outcome,
                   int64_t latency_nanos, int64_t request_bytes,
                   int64_t response_bytes) {
  figures.request_bytes += request_bytes;
  if (!outcome.peer.empty()) ++figures.answered_by[outcome.peer];
  const std::string& error = outcome.error;
  if (error.empty()) {
    ++figures.succeeded;
    figures.response_bytes += response_bytes;
    figures.latency.Record(latency_nanos);
  } else if (outcome.expected) {
    ++figures.refused;
    ++figures.refused_by_code[error];
    figures.error_latency.Record(latency_nanos);
  } else {
    ++figures.failed;
    ++figures.errors[error];
    figures.error_latency.Record(latency_nanos);
  }
}

void Recorder::OnDone(const Outcome& outcome, int64_t latency_nanos,
                      int64_t request_bytes, int64_t response_bytes,
                      int64_t now) {
  absl::MutexLock lock(&mu_);
  Add(window_, outcome, latency_nanos, request_bytes, response_bytes);
  Add(totals_, outcome, latency_nanos, request_bytes, response_bytes);
  last_done_nanos_ = std::max(last_done_nanos_, now);
}

WindowFigures Recorder::TakeWindow(int64_t now_nanos) {
  absl::MutexLock lock(&mu_);
  WindowFigures taken = std::move(window_);
  taken.end_nanos = now_nanos;
  window_ = WindowFigures();
  window_.begin_nanos = now_nanos;
  return taken;
}

WindowFigures Recorder::Totals() const {
  absl::MutexLock lock(&mu_);
  WindowFigures totals = totals_;
  totals.end_nanos = last_done_nanos_;
  return totals;
}

Recorder::Progress Recorder::Peek() const {
  absl::MutexLock lock(&mu_);
  return Progress{.sent = totals_.sent,
                  .succeeded = totals_.succeeded,
                  .failed = totals_.failed,
                  .refused = totals_.refused,
                  .p50_nanos = window_.latency.Percentile(0.5),
                  .p99_nanos = window_.latency.Percentile(0.99)};
}

}  // namespace lossctl::bench
