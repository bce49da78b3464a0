// The results of a bench run, one row per sweep point, and their renderings
// as a text table, JSON and CSV (html_report.h draws the plot).

#ifndef LOSSCTL_BENCH_REPORT_H_
#define LOSSCTL_BENCH_REPORT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bench/load_engine.h"
#include "bench/machine_info.h"

namespace lossctl::bench {

struct BenchRow {
  // The sweep point.
  int concurrency = 1;
  std::optional<double> rate;  // Open loop when set.

  // Counts over the whole measured run (sent == succeeded + failed).
  int64_t sent = 0;
  int64_t succeeded = 0;
  int64_t failed = 0;
  std::map<std::string, int64_t> errors;  // By status code name.
  // --verify: calls refused with the code the library refuses their
  // request with (sent == succeeded + refused + failed).
  int64_t refused = 0;
  std::map<std::string, int64_t> refused_by_code;
  // Calls answered (succeeded or refused) by each server.
  std::map<std::string, int64_t> answered_by;
  int64_t late = 0;  // Open loop only.

  // Rates and latencies, from the figures (the stable windows in
  // stability mode).
  double seconds = 0;
  double throughput = 0;              // Succeeded calls per second.
  double request_mb_per_second = 0;   // 10^6 bytes sent per second.
  double response_mb_per_second = 0;  // 10^6 bytes received per second.
  // Of succeeded calls, in milliseconds.
  double min_ms = 0, mean_ms = 0, p50_ms = 0, p90_ms = 0, p95_ms = 0,
         p99_ms = 0, p999_ms = 0, max_ms = 0;
  // Median latency of failed calls (0 without failures).
  double error_p50_ms = 0;

  int windows = 0;     // Stability mode: windows measured.
  bool stable = true;  // Stability mode: whether they agreed.

  double late_share() const { return sent ? double(late) / sent : 0; }
  double error_share() const { return sent ? double(failed) / sent : 0; }
};

BenchRow MakeRow(const LoadPoint& point, const LoadResult& result);

// Everything a reader needs to reproduce or judge the figures.
struct BenchReport {
  std::string started_at;  // RFC 3339, UTC.
  std::string command_line;
  std::vector<std::string> targets;
  // The request(s): "cross_entropy float32 [256, 1000] class_index" or the
  // file names, and the serialized size of the first.
  std::string request_description;
  int64_t request_bytes = 0;
  std::string mode;  // "closed loop, unary" / "open loop (poisson), stream".
  int connections = 1;
  double warmup_seconds = 0;
  std::string stop_rule;  // "10s per point", "1000 requests per point".
  bool verified = false;
  MachineInfo machine;
  std::vector<BenchRow> rows;
};

// A fixed-width table: one row per point, then errors by code if any.
std::string RenderTable(const BenchReport& report);
// One JSON document: the report's fields and a "results" array.
std::string RenderJson(const BenchReport& report);
// A header line and one line per point; errors as "CODE=n;CODE=n".
std::string RenderCsv(const BenchReport& report);

}  // namespace lossctl::bench

#endif  // LOSSCTL_BENCH_REPORT_H_
