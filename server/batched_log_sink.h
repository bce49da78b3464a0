// An spdlog sink that takes the write(2) of each log line off the thread
// that logs it: lines are formatted into a bounded buffer and a background
// thread writes them out, many lines per write.

#ifndef LOSSD_SERVER_BATCHED_LOG_SINK_H_
#define LOSSD_SERVER_BATCHED_LOG_SINK_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "spdlog/details/log_msg.h"
#include "spdlog/formatter.h"
#include "spdlog/sinks/sink.h"

namespace lossd::server {

// Writes formatted lines to a file descriptor from a background thread.
//
// A logging thread formats its line and appends it to a buffer under a
// mutex; it never waits for the descriptor (a full pipe, a slow terminal,
// a stalled log collector) and makes no system call except, at most, one
// wake-up of the writer when the buffer was empty. The writer, once woken,
// lets lines gather for `write_delay`, then writes the whole buffer in
// one write(2), so a busy server makes one write per `write_delay` rather
// than one per line, and an idle one writes each line within `write_delay`.
//
// Lines are written in the order they were logged. When `max_pending_bytes`
// are waiting (the descriptor does not keep up), further lines are dropped
// and counted; the next line that fits is preceded by the line that
// `describe_dropped(count)` returns, logged at warn, so the log itself says
// how many went missing and where.
//
// flush() (spdlog's logger::flush) writes everything logged before it on
// the calling thread before it returns; the destructor does the same and
// stops the writer. Lines not yet written are lost if the process dies
// without either (SIGKILL, a crash): at most `write_delay` of them.
//
// Thread-safe.
class BatchedLogSink final : public spdlog::sinks::sink {
 public:
  // Payload (spdlog's %v) of the line that reports `count` dropped lines.
  using DroppedLinesDescriber = std::function<std::string(int64_t count)>;

  // Writes to `fd`, which it does not own. Starts the writer thread.
  BatchedLogSink(int fd, absl::Duration write_delay, size_t max_pending_bytes,
                 DroppedLinesDescriber describe_dropped);
  ~BatchedLogSink() override;

  BatchedLogSink(const BatchedLogSink&) = delete;
  BatchedLogSink& operator=(const BatchedLogSink&) = delete;

  // spdlog::sinks::sink.
  void log(const spdlog::details::log_msg& message) override;
  void flush() override;
  void set_pattern(const std::string& pattern) override;
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override;

  // Lines dropped since the start because the buffer was full.
  int64_t dropped_lines() const;

 private:
  void WriterLoop();
  // Writes what is pending (in order with any other batch being written).
  void WritePending();
  // Whether the writer has lines to write or is to stop.
  bool ReadyToWrite() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Appends the line that reports dropped lines, and resets their count.
  void AppendDroppedReport(spdlog::log_clock::time_point time)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int fd_;
  const absl::Duration write_delay_;
  const size_t max_pending_bytes_;
  const DroppedLinesDescriber describe_dropped_;

  // Held while one batch is taken and written, so that batches written by
  // the writer thread and by flush() reach the descriptor in order.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::string writing_ ABSL_GUARDED_BY(write_mu_);

  mutable absl::Mutex mu_;
  std::unique_ptr<spdlog::formatter> formatter_ ABSL_GUARDED_BY(mu_);
  std::string pending_ ABSL_GUARDED_BY(mu_);
  int64_t unreported_dropped_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t total_dropped_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Ends the writer's wait for more lines at once when stopping.
  absl::Notification stop_;

  std::thread writer_;
};

}  // namespace lossd::server

#endif  // LOSSD_SERVER_BATCHED_LOG_SINK_H_
