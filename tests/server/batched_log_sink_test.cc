// BatchedLogSink: lines reach the descriptor in order, without a flush
// within its delay, all of them on flush() or destruction, and lines past
// a stalled descriptor's backlog are dropped and reported, never waited for.

#include "batched_log_sink.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spdlog/logger.h"

namespace lossd::server {
namespace {

// A pipe the sink writes into and the test reads from.
class Pipe {
 public:
  Pipe() {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    read_fd_ = fds[0];
    write_fd_ = fds[1];
  }
  ~Pipe() {
    close(read_fd_);
    close(write_fd_);
  }
  int write_fd() const { return write_fd_; }

  // Makes the pipe as small as Linux allows (one page), so that a test
  // fills it with a few kilobytes.
  void Shrink() { (void)fcntl(write_fd_, F_SETPIPE_SZ, 4096); }

  // Reads until what was read holds `lines` lines or `timeout` passes.
  std::string ReadLines(size_t lines, absl::Duration timeout) {
    return ReadWhile([&] { return CountLines() < lines; }, timeout);
  }

  // Reads until what was read ends with `suffix` or `timeout` passes.
  std::string ReadUntil(absl::string_view suffix, absl::Duration timeout) {
    return ReadWhile([&] { return !absl::EndsWith(text_, suffix); }, timeout);
  }

  // Reads whatever is in the pipe now, without waiting.
  std::string ReadAvailable() {
    return ReadWhile([] { return true; }, absl::ZeroDuration());
  }

 private:
  // Reads while `more()` holds and time is left (with none left, while the
  // pipe has data).
  std::string ReadWhile(const std::function<bool()>& more,
                        absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (more()) {
      const absl::Duration left =
          std::max(deadline - absl::Now(), absl::ZeroDuration());
      pollfd readable = {read_fd_, POLLIN, 0};
      if (poll(&readable, 1,
               static_cast<int>(absl::ToInt64Milliseconds(left))) <= 0) {
        if (left == absl::ZeroDuration()) break;
        continue;
      }
      char buffer[65536];
      const ssize_t got = read(read_fd_, buffer, sizeof(buffer));
      if (got <= 0) break;
      text_.append(buffer, static_cast<size_t>(got));
    }
    return text_;
  }

  size_t CountLines() const {
    return static_cast<size_t>(std::count(text_.begin(), text_.end(), '\n'));
  }

  int read_fd_ = -1;
  int write_fd_ = -1;
  std::string text_;
};

std::vector<std::string> Lines(absl::string_view text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

std::shared_ptr<BatchedLogSink> MakeSink(
    int fd, absl::Duration delay = absl::Milliseconds(10),
    size_t max_pending_bytes = 1 << 20) {
  auto sink = std::make_shared<BatchedLogSink>(
      fd, delay, max_pending_bytes,
      [](int64_t count) { return absl::StrCat("dropped ", count); });
  sink->set_pattern("%v");  // The payload alone, one per line.
  return sink;
}

TEST(BatchedLogSink, ALineArrivesWithinTheDelayWithoutAFlush) {
  Pipe pipe;
  auto sink = MakeSink(pipe.write_fd(), absl::Milliseconds(10));
  spdlog::logger logger("test", sink);
  logger.info("one line");
  // 10 ms is the sink's delay; the rest is room for a busy machine.
  EXPECT_EQ(pipe.ReadLines(1, absl::Seconds(5)), "one line\n");
}

TEST(BatchedLogSink, FlushWritesEveryLineBeforeItReturns) {
  Pipe pipe;
  // A delay longer than the test: only flush() can write these.
  auto sink = MakeSink(pipe.write_fd(), absl::Seconds(60));
  spdlog::logger logger("test", sink);
  for (int i = 0; i < 100; ++i) logger.info("line {}", i);
  logger.flush();
  const std::vector<std::string> lines = Lines(pipe.ReadAvailable());
  ASSERT_EQ(lines.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(lines[i], absl::StrCat("line ", i));
}

TEST(BatchedLogSink, DestructionWritesWhatIsPendingWithoutWaitingTheDelay) {
  Pipe pipe;
  const absl::Time start = absl::Now();
  {
    auto sink = MakeSink(pipe.write_fd(), absl::Seconds(60));
    spdlog::logger logger("test", sink);
    logger.info("first");
    // The writer is now (most likely) waiting out its delay for more lines.
    absl::SleepFor(absl::Milliseconds(100));
    logger.info("last");
  }
  EXPECT_EQ(pipe.ReadAvailable(), "first\nlast\n");
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
}

TEST(BatchedLogSink, EachThreadsLinesArriveInItsOrder) {
  Pipe pipe;
  constexpr int kThreads = 4;
  constexpr int kLinesPerThread = 5000;
  auto sink = MakeSink(pipe.write_fd(), absl::Milliseconds(1));
  spdlog::logger logger("test", sink);
  std::string text;
  std::thread reader([&] {
    text = pipe.ReadLines(kThreads * kLinesPerThread, absl::Seconds(60));
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&logger, t] {
      for (int i = 0; i < kLinesPerThread; ++i) logger.info("{} {}", t, i);
    });
  }
  for (std::thread& writer : writers) writer.join();
  reader.join();  // No flush: the writer thread alone writes them.
  std::vector<int> next(kThreads, 0);
  for (const std::string& line : Lines(text)) {
    const std::vector<std::string> parts = absl::StrSplit(line, ' ');
    ASSERT_EQ(parts.size(), 2u) << line;
    int thread = 0, index = 0;
    ASSERT_TRUE(absl::SimpleAtoi(parts[0], &thread)) << line;
    ASSERT_TRUE(absl::SimpleAtoi(parts[1], &index)) << line;
    ASSERT_EQ(index, next[thread]) << "thread " << thread;
    ++next[thread];
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kLinesPerThread);
  EXPECT_EQ(sink->dropped_lines(), 0);
}

TEST(BatchedLogSink, AStalledDescriptorCostsLinesNotWaits) {
  Pipe pipe;
  pipe.Shrink();
  constexpr size_t kMaxPendingBytes = 4096;
  auto sink =
      MakeSink(pipe.write_fd(), absl::Milliseconds(1), kMaxPendingBytes);
  spdlog::logger logger("test", sink);
  // Nobody reads the pipe: the writer blocks once it is full, the backlog
  // fills, and from then on lines are dropped, each log call still quick.
  int64_t logged = 0;
  auto slowest = std::chrono::steady_clock::duration::zero();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (sink->dropped_lines() < 1000 && absl::Now() < deadline) {
    const auto start = std::chrono::steady_clock::now();
    logger.info("line {:08d}", logged++);
    slowest = std::max(slowest, std::chrono::steady_clock::now() - start);
  }
  ASSERT_GE(sink->dropped_lines(), 1000);
  // Generous for a loaded machine; blocking on the pipe would be forever.
  EXPECT_LT(slowest, std::chrono::seconds(1));

  // Once the pipe is read again, everything logged is either written, in
  // order, or counted by a report; the flush ends with the last report.
  std::string text;
  std::thread reader(
      [&] { text = pipe.ReadUntil("after\n", absl::Seconds(30)); });
  logger.flush();
  logger.info("after");
  logger.flush();
  reader.join();
  const std::vector<std::string> lines = Lines(text);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines.back(), "after");
  EXPECT_TRUE(absl::StartsWith(lines[lines.size() - 2], "dropped "))
      << lines[lines.size() - 2];
  int64_t written = 0, reported = 0, previous = -1;
  for (const std::string& line : lines) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "dropped ")) {
      int64_t count = 0;
      ASSERT_TRUE(absl::SimpleAtoi(rest, &count)) << line;
      reported += count;
    } else if (absl::ConsumePrefix(&rest, "line ")) {
      int64_t index = 0;
      ASSERT_TRUE(absl::SimpleAtoi(rest, &index)) << line;
      EXPECT_GT(index, previous);
      previous = index;
      ++written;
    }
  }
  EXPECT_EQ(written + reported, logged);
  EXPECT_EQ(reported, sink->dropped_lines());
}

}  // namespace
}  // namespace lossd::server
