// `lossctl bench` against real lossd processes: the counts add up in every
// mode, and a server that refuses every call shows up as errors by code,
// never as fast successes. Runs are bounded by call counts, not by time.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "command_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server_process.h"

namespace lossctl {
namespace {

using ::lossctl::testing::CommandResult;
using ::lossctl::testing::RunCommand;
using ::testing::HasSubstr;
using ::testing::Not;

using Server = std::unique_ptr<lossd::testing::ServerProcess>;

// Later flags win, so `arguments` may override these defaults.
Server StartServer(std::vector<std::string> arguments = {}) {
  arguments.insert(arguments.begin(),
                   {"--metrics_address=", "--log_level=warn"});
  auto server =
      lossd::testing::ServerProcess::Start(LOSSD_SERVER_PATH, arguments);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

std::string TempPath(absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), "/lossctl_bench_", getpid(), "_",
                      name);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Runs `lossctl bench --json=- ...` and parses its report.
nlohmann::json Bench(const std::string& target,
                     std::vector<std::string> arguments,
                     int expected_exit_code = 0) {
  arguments.insert(arguments.begin(),
                   {LOSSCTL_PATH, "bench", absl::StrCat("--target=", target),
                    "--json=-", "--warmup=0s", "--progress=false"});
  const CommandResult result = RunCommand(arguments, 60);
  EXPECT_EQ(result.exit_code, expected_exit_code) << result.err;
  nlohmann::json report =
      nlohmann::json::parse(result.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(report.is_discarded()) << result.out << result.err;
  return report;
}

void ExpectCountsAddUp(const nlohmann::json& row) {
  EXPECT_EQ(row["sent"].get<int64_t>(),
            row["succeeded"].get<int64_t>() + row["failed"].get<int64_t>())
      << row.dump();
  int64_t by_code = 0;
  for (const auto& [code, count] : row["errors"].items()) {
    by_code += count.get<int64_t>();
  }
  EXPECT_EQ(by_code, row["failed"].get<int64_t>()) << row.dump();
}

class BenchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = StartServer().release(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::string Target() { return server_->target(); }
  static lossd::testing::ServerProcess* server_;
};

lossd::testing::ServerProcess* BenchTest::server_ = nullptr;

TEST_F(BenchTest, ClosedLoopSweepCountsAddUpAndVerify) {
  const nlohmann::json report = Bench(
      Target(),
      {"--concurrency=1,4", "--requests=200", "--verify", "--shape=16x100"});
  ASSERT_EQ(report["results"].size(), 2u);
  EXPECT_TRUE(report["verified"].get<bool>());
  for (const auto& row : report["results"]) {
    ExpectCountsAddUp(row);
    EXPECT_EQ(row["sent"], 200);
    EXPECT_EQ(row["succeeded"], 200) << row["errors"].dump();
    EXPECT_GT(row["throughput_per_second"].get<double>(), 0);
    const auto& latency = row["latency_ms"];
    EXPECT_GT(latency["min"].get<double>(), 0);
    EXPECT_LE(latency["min"].get<double>(), latency["p50"].get<double>());
    EXPECT_LE(latency["p50"].get<double>(), latency["p99"].get<double>());
    EXPECT_LE(latency["p99"].get<double>(), latency["max"].get<double>());
  }
  EXPECT_EQ(report["results"][0]["concurrency"], 1);
  EXPECT_EQ(report["results"][1]["concurrency"], 4);
}

TEST_F(BenchTest, OpenLoopSendsEveryScheduledCall) {
  // 200/s for 1 s of constant arrivals: the calls at 0, 5, ..., 995 ms.
  const nlohmann::json report =
      Bench(Target(), {"--rate=200", "--duration=1s", "--shape=8x10"});
  ASSERT_EQ(report["results"].size(), 1u);
  const auto& row = report["results"][0];
  ExpectCountsAddUp(row);
  EXPECT_EQ(row["sent"], 200);
  EXPECT_EQ(row["rate"], 200);
  EXPECT_LE(row["late"].get<int64_t>(), 200);
  EXPECT_THAT(report["mode"].get<std::string>(), HasSubstr("open loop"));
}

TEST_F(BenchTest, OpenLoopByCountWithPoissonArrivals) {
  const nlohmann::json report = Bench(
      Target(),
      {"--rate=500", "--arrival=poisson", "--requests=150", "--shape=8x10"});
  const auto& row = report["results"][0];
  ExpectCountsAddUp(row);
  EXPECT_EQ(row["sent"], 150);
}

TEST_F(BenchTest, StreamsCountsAddUp) {
  for (const char* rate : {"--rate=", "--rate=300"}) {
    const nlohmann::json report =
        Bench(Target(), {"--stream", "--concurrency=2", "--requests=120",
                         "--shape=8x10", rate});
    const auto& row = report["results"][0];
    ExpectCountsAddUp(row);
    EXPECT_EQ(row["sent"], 120) << rate;
    EXPECT_EQ(row["succeeded"], 120) << rate << row["errors"].dump();
  }
}

TEST_F(BenchTest, ARejectedLossIsCountedAsNotFoundNotAsSuccess) {
  for (const char* stream : {"--stream=false", "--stream=true"}) {
    const nlohmann::json report =
        Bench(Target(),
              {"--loss=no_such_loss", "--target_kind=class_index",
               "--requests=50", "--concurrency=4", "--shape=4x3", stream},
              /*expected_exit_code=*/1);
    const auto& row = report["results"][0];
    ExpectCountsAddUp(row);
    EXPECT_EQ(row["sent"], 50) << stream;
    EXPECT_EQ(row["succeeded"], 0) << stream;
    EXPECT_EQ(row["errors"], nlohmann::json({{"NOT_FOUND", 50}})) << stream;
    EXPECT_EQ(row["throughput_per_second"], 0);
  }
}

TEST_F(BenchTest, AnInvalidRequestFileIsCountedAsInvalidArgument) {
  const std::string path = TempPath("bad_label.pb");
  const CommandResult saved = RunCommand(
      {LOSSCTL_PATH, "compute", "--loss=cross_entropy", "--input=[[1,2,3]]",
       "--labels=[7]", absl::StrCat("--save_request=", path), "--dry_run"});
  ASSERT_EQ(saved.exit_code, 0) << saved.err;
  const nlohmann::json report = Bench(
      Target(),
      {absl::StrCat("--request=", path), "--requests=40", "--concurrency=2"},
      /*expected_exit_code=*/1);
  const auto& row = report["results"][0];
  ExpectCountsAddUp(row);
  EXPECT_EQ(row["errors"], nlohmann::json({{"INVALID_ARGUMENT", 40}}));
  std::remove(path.c_str());
}

TEST_F(BenchTest, WritesTableCsvAndSelfContainedHtml) {
  const std::string csv = TempPath("out.csv");
  const std::string html = TempPath("out.html");
  const CommandResult result = RunCommand(
      {LOSSCTL_PATH, "bench", absl::StrCat("--target=", Target()),
       "--concurrency=1,2", "--requests=50", "--warmup=0s", "--shape=8x10",
       absl::StrCat("--csv=", csv), absl::StrCat("--html=", html)},
      60);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("CONC"));
  EXPECT_THAT(result.out, HasSubstr("P99.9"));
  // Not a terminal: no progress line.
  EXPECT_THAT(result.err, Not(HasSubstr("req/s")));
  const std::string csv_text = Slurp(csv);
  EXPECT_EQ(std::count(csv_text.begin(), csv_text.end(), '\n'), 3);
  EXPECT_THAT(csv_text, HasSubstr("concurrency,rate,sent,succeeded,failed"));
  const std::string html_text = Slurp(html);
  EXPECT_THAT(html_text, HasSubstr("<svg"));
  EXPECT_THAT(html_text, HasSubstr("Latency against throughput"));
  EXPECT_THAT(html_text, HasSubstr("<polyline"));
  EXPECT_THAT(html_text, Not(HasSubstr("<script")));
  EXPECT_THAT(html_text, Not(HasSubstr("src=")));
  std::remove(csv.c_str());
  std::remove(html.c_str());
}

TEST_F(BenchTest, BadFlagsExitTwoBeforeSending) {
  for (std::vector<std::string> flags : std::vector<std::vector<std::string>>{
           {"--concurrency=1,2", "--rate=5,6"},
           {"--rate=-1"},
           {"--shape=8xq"},
           {"--arrival=bursty"},
           {"--loss=no_such_loss"},
           {"--request=/nonexistent.pb"}}) {
    flags.insert(flags.begin(),
                 {LOSSCTL_PATH, "bench", absl::StrCat("--target=", Target())});
    const CommandResult result = RunCommand(flags);
    EXPECT_EQ(result.exit_code, 2) << flags[3] << result.err;
  }
}

TEST(BenchLimits, ATooLargeRequestIsCountedAsResourceExhausted) {
  Server small = StartServer({"--max_request_bytes=20000"});
  ASSERT_NE(small, nullptr);
  // 64 x 100 float32 logits: 25.6 kB, past the 20 kB limit.
  const nlohmann::json report =
      Bench(small->target(), {"--shape=64x100", "--requests=30"},
            /*expected_exit_code=*/1);
  const auto& row = report["results"][0];
  ExpectCountsAddUp(row);
  EXPECT_EQ(row["errors"], nlohmann::json({{"RESOURCE_EXHAUSTED", 30}}));
}

// GET http://127.0.0.1:`port`/metrics, the whole body.
std::string ScrapeMetrics(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request =
        "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, request.data(), request.size()) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) {
        response.append(buffer, n);
      }
    }
  }
  close(fd);
  return response;
}

// The value of the first sample of `metric` whose labels contain `label`.
double MetricValue(const std::string& metrics, const std::string& metric,
                   const std::string& label) {
  std::istringstream lines(metrics);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(metric + "{", 0) == 0 &&
        line.find(label) != std::string::npos) {
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return 0;
}

// A lossd with its metrics on a free port, and that port.
Server StartServerWithMetrics(int* metrics_port) {
  const std::string port_file = TempPath(absl::StrCat("metrics_port_", rand()));
  Server server =
      StartServer({"--metrics_address=127.0.0.1:0",
                   absl::StrCat("--metrics_port_file=", port_file)});
  std::ifstream(port_file) >> *metrics_port;
  std::remove(port_file.c_str());
  return server;
}

TEST(BenchLimits, RoundRobinOverTwoServers) {
  int first_metrics = 0, second_metrics = 0;
  Server first = StartServerWithMetrics(&first_metrics);
  Server second = StartServerWithMetrics(&second_metrics);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ASSERT_GT(first_metrics, 0);
  ASSERT_GT(second_metrics, 0);
  const nlohmann::json report = Bench(
      absl::StrCat(first->target(), ",", second->target()),
      {"--requests=100", "--concurrency=4", "--connections=2", "--shape=8x10"});
  const auto& row = report["results"][0];
  ExpectCountsAddUp(row);
  EXPECT_EQ(row["succeeded"], 100);
  EXPECT_EQ(report["targets"].size(), 2u);
  // round_robin takes turns: each server answers about half.
  const char kMetric[] = "grpc_server_handled_total";
  const char kLabel[] = "grpc_method=\"Compute\"";
  const double first_calls =
      MetricValue(ScrapeMetrics(first_metrics), kMetric, kLabel);
  const double second_calls =
      MetricValue(ScrapeMetrics(second_metrics), kMetric, kLabel);
  EXPECT_EQ(first_calls + second_calls, 100);
  EXPECT_GE(first_calls, 30);
  EXPECT_GE(second_calls, 30);
  // round_robin only uses backends that are up: with one of the two
  // unreachable, every call still succeeds.
  second.reset();
  const testing::RefusingPort refusing;
  const nlohmann::json after =
      Bench(absl::StrCat(first->target(), ",", refusing.target()),
            {"--requests=40", "--shape=8x10"});
  EXPECT_EQ(after["results"][0]["succeeded"], 40);
}

}  // namespace
}  // namespace lossctl
