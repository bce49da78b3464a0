// Soak: one lossd under 64 calls in flight for a bounded time (60 s by
// default; LOSSD_SOAK_SECONDS for longer runs), a mix of valid requests
// (several losses, dtypes and target kinds, every answer verified against
// the library) and malformed ones of six kinds, each of which must be
// refused with the library's own code (INVALID_ARGUMENT or NOT_FOUND). The
// server's resident memory is sampled throughout: it must level off.
//
// Figures: lines starting "soak:" and "soak_rss:" (docs/RELIABILITY.md).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "conversion.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "reliability_support.h"

namespace lossd::reliability {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kConcurrency = 64;

double SoakSeconds() {
  double seconds = 60;
  if (const char* text = std::getenv("LOSSD_SOAK_SECONDS"); text != nullptr) {
    if (!absl::SimpleAtod(text, &seconds) || seconds < 10) seconds = 60;
  }
  return seconds;
}

// Sets class index `row` of a class-index target to `label`.
void SetLabel(v1::Tensor* target, int row, int64_t label) {
  if (target->dtype() == v1::DTYPE_INT64 && !target->raw().empty()) {
    std::memcpy(target->mutable_raw()->data() + 8 * row, &label, 8);
  } else if (target->dtype() == v1::DTYPE_INT32 && !target->raw().empty()) {
    const int32_t narrow = static_cast<int32_t>(label);
    std::memcpy(target->mutable_raw()->data() + 4 * row, &narrow, 4);
  } else if (target->int64_values_size() > row) {
    target->set_int64_values(row, label);
  } else {
    ADD_FAILURE() << "unexpected target encoding " << target->DebugString();
  }
}

struct Kind {
  std::string name;
  v1::ComputeRequest request;
};

std::vector<Kind> ValidRequests() {
  return {
      {"cross_entropy_f32",
       Generated("cross_entropy", {64, 1000}, "class_index", 21)},
      {"cross_entropy_soft",
       Generated("cross_entropy", {32, 500}, "probabilities", 22)},
      {"bce_multi_label",
       Generated("binary_cross_entropy", {32, 100}, "multi_label", 23)},
      {"mse", Generated("mse", {128, 16}, "values", 24)},
      {"cross_entropy_bf16", Generated("cross_entropy", {32, 1000},
                                       "class_index", 25, v1::DTYPE_BFLOAT16)},
  };
}

std::vector<Kind> MalformedRequests() {
  const v1::ComputeRequest hard =
      Generated("cross_entropy", {64, 1000}, "class_index", 31);
  std::vector<Kind> kinds;
  {
    Kind kind{"wrong_byte_count", hard};
    std::string* raw = kind.request.mutable_input()->mutable_raw();
    raw->resize(raw->size() - 4);
    kinds.push_back(kind);
  }
  {
    Kind kind{"label_out_of_range", hard};
    SetLabel(kind.request.mutable_target(), 17, 1000);
    kinds.push_back(kind);
  }
  {
    Kind kind{"unknown_loss", Generated("mse", {16, 8}, "values", 32)};
    kind.request.set_loss("no_such_loss");
    kinds.push_back(kind);
  }
  {
    Kind kind{"nan_option", hard};
    kind.request.mutable_cross_entropy()->set_label_smoothing(
        std::numeric_limits<double>::quiet_NaN());
    kinds.push_back(kind);
  }
  {
    Kind kind{"huge_shape", Generated("mse", {16, 8}, "values", 33)};
    kind.request.mutable_input()->clear_shape();
    kind.request.mutable_input()->add_shape(int64_t{1} << 31);
    kind.request.mutable_input()->add_shape(int64_t{1} << 31);
    kinds.push_back(kind);
  }
  {
    Kind kind{"target_shape_mismatch",
              Generated("binary_cross_entropy", {32, 100}, "multi_label", 34)};
    kind.request.mutable_target()->set_shape(1, 99);
    kinds.push_back(kind);
  }
  return kinds;
}

TEST(Soak, MixedValidAndMalformedLoadLeavesMemoryLevelAndAnswersRight) {
  const double seconds = SoakSeconds();
  absl::StatusOr<Server> started = StartServer({"--log_level=warn"});
  ASSERT_TRUE(started.ok()) << started.status();
  Server server = *std::move(started);

  // Valid and malformed kinds interleaved; bench sends them in turn.
  const std::vector<Kind> valid = ValidRequests();
  const std::vector<Kind> malformed = MalformedRequests();
  std::vector<Kind> mix;
  for (size_t i = 0; i < std::max(valid.size(), malformed.size()); ++i) {
    if (i < valid.size()) mix.push_back(valid[i]);
    if (i < malformed.size()) mix.push_back(malformed[i]);
  }
  std::vector<std::string> files;
  int64_t expected_invalid = 0, expected_not_found = 0;
  for (size_t i = 0; i < mix.size(); ++i) {
    v1::ComputeResponse response;
    const absl::Status status =
        server::ComputeFromProto(mix[i].request, &response);
    const bool is_valid = i % 2 == 0 && i / 2 < valid.size();
    if (is_valid) {
      ASSERT_TRUE(status.ok()) << mix[i].name << ": " << status;
    } else {
      ASSERT_TRUE(status.code() == absl::StatusCode::kInvalidArgument ||
                  status.code() == absl::StatusCode::kNotFound)
          << mix[i].name << ": " << status;
      (status.code() == absl::StatusCode::kNotFound ? expected_not_found
                                                    : expected_invalid) += 1;
    }
    files.push_back(
        TempPath(absl::StrCat("soak_", i, "_", mix[i].name, ".pb")));
    ASSERT_TRUE(WriteRequest(mix[i].request, files.back()).ok());
  }
  // The bounds: the run's time, and a count it cannot reach.
  BackgroundCommand bench(
      {LossctlPath(), "bench", "--target=" + server->target(), "--verify",
       "--retries=0", absl::StrCat("--concurrency=", kConcurrency),
       absl::StrCat("--duration=", seconds, "s"), "--requests=100000000",
       "--request=" + absl::StrJoin(files, ","), "--warmup=0s", "--timeout=30s",
       "--json=-", "--progress=false"},
      /*timeout_seconds=*/seconds + 120);

  struct Sample {
    double at;
    int64_t kib;
  };
  std::vector<Sample> samples;
  const Clock::time_point start = Clock::now();
  bool server_died = false;
  while (!bench.done()) {
    if (!server->Running()) {
      server_died = true;
      break;
    }
    const int64_t kib = ResidentKib(server->pid());
    const double at =
        std::chrono::duration<double>(Clock::now() - start).count();
    if (kib > 0) samples.push_back({at, kib});
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  const lossctl::testing::CommandResult& result = bench.Wait();
  ASSERT_FALSE(server_died) << server->Log();
  EXPECT_TRUE(server->Running()) << server->Log();
  ASSERT_GE(samples.size(), 20u);

  // RSS at a fraction of the run: the largest sample in the 5 % before it.
  const double span = samples.back().at;
  auto rss_at = [&](double fraction) {
    int64_t kib = 0;
    for (const Sample& s : samples) {
      if (s.at <= fraction * span && s.at >= (fraction - 0.05) * span) {
        kib = std::max(kib, s.kib);
      }
    }
    return kib;
  };
  // The level over a part of the run: the median sample in it. A leak moves
  // the level; a burst of a few seconds (seen once in CI while a container
  // image built on the same cores) does not.
  auto level = [&](double from, double to) {
    std::vector<int64_t> kibs;
    for (const Sample& s : samples) {
      if (s.at >= from * span && s.at <= to * span) kibs.push_back(s.kib);
    }
    if (kibs.empty()) return int64_t{0};
    std::nth_element(kibs.begin(), kibs.begin() + kibs.size() / 2, kibs.end());
    return kibs[kibs.size() / 2];
  };
  int64_t peak = 0;
  for (const Sample& s : samples) peak = std::max(peak, s.kib);
  const int64_t after_warmup = level(0.2, 0.4), at_end = level(0.8, 1.0);
  const int64_t growth = at_end - after_warmup;
  const double growth_percent = 100.0 * growth / after_warmup;

  const nlohmann::json report =
      nlohmann::json::parse(result.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(report.is_discarded()) << result.out << result.err;
  const nlohmann::json& row = report["results"][0];
  const int64_t sent = row["sent"].get<int64_t>();
  const int64_t succeeded = row["succeeded"].get<int64_t>();
  const int64_t failed = row["failed"].get<int64_t>();
  const int64_t refused = row["refused_as_expected"].get<int64_t>();
  const int64_t mismatched =
      row["errors"].value("VERIFY_FAILED", static_cast<int64_t>(0));
  const int64_t refused_invalid =
      row["refused_by_code"].value("INVALID_ARGUMENT", static_cast<int64_t>(0));
  const int64_t refused_not_found =
      row["refused_by_code"].value("NOT_FOUND", static_cast<int64_t>(0));
  std::vector<std::string> curve;
  for (int tenth = 1; tenth <= 10; ++tenth) {
    curve.push_back(
        absl::StrCat(tenth * 10, "%=", rss_at(tenth / 10.0) / 1024, "MiB"));
  }
  std::printf(
      "soak: seconds=%.0f concurrency=%d kinds=%zu_valid+%zu_malformed "
      "sent=%lld valid_ok=%lld refused_as_expected=%lld "
      "(INVALID_ARGUMENT=%lld NOT_FOUND=%lld) failed=%lld wrong_answers=%lld "
      "server_alive=%s rss_level_20_40_kib=%lld rss_level_80_100_kib=%lld "
      "rss_peak_kib=%lld growth_kib=%lld growth_percent=%.1f\n",
      seconds, kConcurrency, valid.size(), malformed.size(),
      static_cast<long long>(sent), static_cast<long long>(succeeded),
      static_cast<long long>(refused), static_cast<long long>(refused_invalid),
      static_cast<long long>(refused_not_found), static_cast<long long>(failed),
      static_cast<long long>(mismatched), server->Running() ? "yes" : "NO",
      static_cast<long long>(after_warmup), static_cast<long long>(at_end),
      static_cast<long long>(peak), static_cast<long long>(growth),
      growth_percent);
  std::printf("soak_rss: %s\n", absl::StrJoin(curve, " ").c_str());
  std::fflush(stdout);

  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(report["verified"].get<bool>());
  EXPECT_GT(sent, 1000);
  EXPECT_EQ(failed, 0) << row["errors"].dump();
  EXPECT_EQ(mismatched, 0);
  EXPECT_EQ(sent, succeeded + refused + failed);
  // Requests go out in turn: each kind's share of the calls is known to
  // within the calls in flight at the end.
  const double per_kind = static_cast<double>(sent) / mix.size();
  EXPECT_NEAR(succeeded, per_kind * valid.size(), kConcurrency + 1.0);
  EXPECT_NEAR(refused_invalid, per_kind * expected_invalid, kConcurrency + 1.0);
  EXPECT_NEAR(refused_not_found, per_kind * expected_not_found,
              kConcurrency + 1.0);
  // Memory levels off: its level late in the run (80-100 %) exceeds its
  // level early on (20-40 %) by less than 10 % plus 8 MiB (allocator noise
  // under 64 calls in flight).
  EXPECT_GT(after_warmup, 0);
  EXPECT_LT(growth, after_warmup / 10 + 8 * 1024)
      << "RSS " << after_warmup << " KiB over 20-40 % of the run, " << at_end
      << " KiB at its end";
  for (const std::string& file : files) std::remove(file.c_str());
}

}  // namespace
}  // namespace lossd::reliability
