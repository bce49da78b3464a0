// Failover: three lossd replicas behind lossctl bench's round-robin channel
// with a retry policy for UNAVAILABLE; one replica is SIGKILLed in the
// middle of the run. Every call must still succeed with a verified answer:
// the calls in flight on the killed replica fail with UNAVAILABLE and are
// retried on the others, and round_robin stops picking the dead one.
//
// Figures: one line starting "failover:" (docs/RELIABILITY.md).

#include <signal.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "reliability_support.h"

namespace lossd::reliability {
namespace {

constexpr int64_t kRequests = 30000;
constexpr int kConcurrency = 16;
constexpr int kRetries = 4;
// The replica to kill must have answered this many calls first (counted in
// its request log), so that it demonstrably served part of the run.
constexpr int64_t kAnsweredBeforeKill = 500;

TEST(Failover, SigkillOfOneReplicaOfThreeCostsNoCall) {
  std::vector<Server> replicas;
  for (int i = 0; i < 3; ++i) {
    // info: one log line per request, how the test sees a replica's share.
    absl::StatusOr<Server> replica = StartServer({"--log_level=info"});
    ASSERT_TRUE(replica.ok()) << replica.status();
    replicas.push_back(*std::move(replica));
  }
  // Several distinct requests, so that an answer given to the wrong call
  // could not pass verification.
  std::vector<std::string> files;
  const std::vector<v1::ComputeRequest> requests = {
      Generated("cross_entropy", {64, 1000}, "class_index", 1),
      Generated("cross_entropy", {32, 500}, "probabilities", 2),
      Generated("binary_cross_entropy", {32, 100}, "multi_label", 3),
      Generated("mse", {128, 16}, "values", 4)};
  for (size_t i = 0; i < requests.size(); ++i) {
    files.push_back(TempPath(absl::StrCat("failover_", i, ".pb")));
    ASSERT_TRUE(WriteRequest(requests[i], files.back()).ok());
  }
  std::vector<std::string> targets;
  for (const Server& replica : replicas) targets.push_back(replica->target());

  BackgroundCommand bench(
      {LossctlPath(), "bench", "--target=" + absl::StrJoin(targets, ","),
       absl::StrCat("--retries=", kRetries), "--verify",
       absl::StrCat("--requests=", kRequests),
       absl::StrCat("--concurrency=", kConcurrency),
       "--request=" + absl::StrJoin(files, ","), "--warmup=0s", "--timeout=30s",
       "--json=-", "--progress=false"},
      /*timeout_seconds=*/150);

  // Kill the third replica once it has answered its share of the start.
  Server& victim = replicas[2];
  int64_t answered_before_kill = 0;
  for (int i = 0; i < 6000 && !bench.done(); ++i) {
    answered_before_kill = CountOccurrences(victim->Log(), "method=Compute");
    if (answered_before_kill >= kAnsweredBeforeKill) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const bool killed_mid_run = !bench.done();
  ASSERT_TRUE(killed_mid_run)
      << "the bench ended before the replica could be killed";
  ASSERT_GE(answered_before_kill, kAnsweredBeforeKill) << victim->Log();
  absl::StatusOr<int> killed = victim->SignalAndWait(SIGKILL, 10);
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_TRUE(WIFSIGNALED(*killed));

  const lossctl::testing::CommandResult& result = bench.Wait();
  EXPECT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json report =
      nlohmann::json::parse(result.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(report.is_discarded()) << result.out << result.err;
  ASSERT_EQ(report["results"].size(), 1u);
  const nlohmann::json& row = report["results"][0];
  const int64_t sent = row["sent"].get<int64_t>();
  const int64_t succeeded = row["succeeded"].get<int64_t>();
  const int64_t failed = row["failed"].get<int64_t>();
  const int64_t mismatched =
      row["errors"].value("VERIFY_FAILED", static_cast<int64_t>(0));
  const std::string victim_peer = absl::StrCat("ipv4:", victim->target());
  const int64_t killed_after =
      row["answered_by"].value(victim_peer, static_cast<int64_t>(0));
  std::vector<std::string> shares;
  for (const auto& [peer, count] : row["answered_by"].items()) {
    shares.push_back(absl::StrCat(peer.substr(peer.rfind(':') + 1), "=",
                                  count.get<int64_t>(),
                                  peer == victim_peer ? "(killed)" : ""));
  }
  std::printf(
      "failover: replicas=3 concurrency=%d retries=%d sent=%lld "
      "succeeded=%lld failed=%lld mismatched=%lld killed_after=%lld "
      "answered_by_port=%s seconds=%.1f\n",
      kConcurrency, kRetries, static_cast<long long>(sent),
      static_cast<long long>(succeeded), static_cast<long long>(failed),
      static_cast<long long>(mismatched), static_cast<long long>(killed_after),
      absl::StrJoin(shares, ",").c_str(), row["seconds"].get<double>());
  std::fflush(stdout);

  EXPECT_TRUE(report["verified"].get<bool>());
  EXPECT_EQ(sent, kRequests);
  EXPECT_EQ(succeeded, kRequests) << row["errors"].dump();
  EXPECT_EQ(failed, 0) << row["errors"].dump();
  EXPECT_EQ(mismatched, 0);
  EXPECT_EQ(row["refused_as_expected"], 0);
  // The killed replica served part of the run, and only part of it; the
  // survivors carried the rest. Its log counts an answer when the answer is
  // written, the client when it arrives: up to kConcurrency answers logged
  // before the kill may never arrive (and were retried elsewhere).
  EXPECT_GE(killed_after, kAnsweredBeforeKill - kConcurrency);
  EXPECT_LT(killed_after, kRequests / 2);
  int64_t total = 0;
  for (const auto& [peer, count] : row["answered_by"].items()) {
    EXPECT_GT(count.get<int64_t>(), 0) << peer;
    total += count.get<int64_t>();
  }
  EXPECT_EQ(total, kRequests);
  EXPECT_EQ(row["answered_by"].size(), 3u) << row["answered_by"].dump();
  // The survivors kept serving and answer correctly after the run.
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(replicas[i]->Running());
  for (const std::string& file : files) std::remove(file.c_str());
}

}  // namespace
}  // namespace lossd::reliability
