#include "batched_log_sink.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/string_view.h"
#include "spdlog/details/os.h"
#include "spdlog/pattern_formatter.h"

namespace lossd::server {
namespace {

// Writes all of `data` to `fd`, waiting for a non-blocking descriptor to
// take more. Gives up on an error other than EINTR or EAGAIN (a closed
// pipe, a bad descriptor): there is nowhere else to report it.
void WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t written = ::write(fd, data.data(), data.size());
    if (written > 0) {
      data.remove_prefix(static_cast<size_t>(written));
      continue;
    }
    if (written < 0 && errno == EINTR) continue;
    if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd writable = {fd, POLLOUT, 0};
      if (::poll(&writable, 1, -1) >= 0 || errno == EINTR) continue;
    }
    return;
  }
}

}  // namespace

BatchedLogSink::BatchedLogSink(int fd, absl::Duration write_delay,
                               size_t max_pending_bytes,
                               DroppedLinesDescriber describe_dropped)
    : fd_(fd),
      write_delay_(write_delay),
      max_pending_bytes_(max_pending_bytes),
      describe_dropped_(std::move(describe_dropped)),
      formatter_(std::make_unique<spdlog::pattern_formatter>()) {
  // The writer starts with every signal blocked, so that it never takes one
  // meant for the process (lossd waits for SIGTERM on a thread of its own;
  // a writer started before that thread's mask was set would otherwise
  // receive it and die of it).
  sigset_t all_signals, previous;
  sigfillset(&all_signals);
  pthread_sigmask(SIG_BLOCK, &all_signals, &previous);
  writer_ = std::thread([this] { WriterLoop(); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  // Named for top -H and debuggers; at most 15 characters.
  pthread_setname_np(writer_.native_handle(), "lossd-log");
}

BatchedLogSink::~BatchedLogSink() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  stop_.Notify();
  writer_.join();
  flush();
}

void BatchedLogSink::log(const spdlog::details::log_msg& message) {
  spdlog::memory_buf_t line;
  absl::MutexLock lock(&mu_);
  formatter_->format(message, line);
  if (pending_.size() + line.size() > max_pending_bytes_) {
    ++unreported_dropped_;
    ++total_dropped_;
    return;
  }
  if (unreported_dropped_ > 0) AppendDroppedReport(message.time);
  // The writer waits on the mutex for pending_ to turn non-empty: this
  // unlock wakes it (the only system call a logging thread may make).
  pending_.append(line.data(), line.size());
}

void BatchedLogSink::flush() {
  {
    absl::MutexLock lock(&mu_);
    if (unreported_dropped_ > 0) {
      AppendDroppedReport(spdlog::details::os::now());
    }
  }
  WritePending();
}

void BatchedLogSink::set_pattern(const std::string& pattern) {
  set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern));
}

void BatchedLogSink::set_formatter(
    std::unique_ptr<spdlog::formatter> formatter) {
  absl::MutexLock lock(&mu_);
  formatter_ = std::move(formatter);
}

int64_t BatchedLogSink::dropped_lines() const {
  absl::MutexLock lock(&mu_);
  return total_dropped_;
}

void BatchedLogSink::WriterLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &BatchedLogSink::ReadyToWrite));
      if (stopping_) return;  // The destructor writes what is left.
    }
    // Let the lines of the next few milliseconds join this one: one write
    // for all of them. Not waiting on the mutex, so loggers meanwhile take
    // it uncontended and wake no one.
    if (stop_.WaitForNotificationWithTimeout(write_delay_)) return;
    WritePending();
  }
}

bool BatchedLogSink::ReadyToWrite() const {
  return stopping_ || !pending_.empty();
}

void BatchedLogSink::WritePending() {
  absl::MutexLock write_lock(&write_mu_);
  {
    absl::MutexLock lock(&mu_);
    // pending_ gets the capacity of the previous batch: no allocation per
    // batch once the buffers have grown to the load.
    pending_.swap(writing_);
  }
  WriteAll(fd_, writing_);
  writing_.clear();
}

void BatchedLogSink::AppendDroppedReport(spdlog::log_clock::time_point time) {
  const std::string payload = describe_dropped_(unreported_dropped_);
  const spdlog::details::log_msg report(time, spdlog::source_loc{}, "",
                                        spdlog::level::warn, payload);
  spdlog::memory_buf_t line;
  formatter_->format(report, line);
  pending_.append(line.data(), line.size());
  unreported_dropped_ = 0;
}

}  // namespace lossd::server
