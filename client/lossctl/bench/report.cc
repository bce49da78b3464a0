#include "bench/report.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "text_table.h"

namespace lossctl::bench {
namespace {

double Milliseconds(int64_t nanos) { return nanos * 1e-6; }

std::string ErrorsText(const std::map<std::string, int64_t>& errors,
                       absl::string_view separator) {
  return absl::StrJoin(errors, separator, [](std::string* out, const auto& e) {
    absl::StrAppend(out, e.first, "=", e.second);
  });
}

std::string Fixed(double value, int digits) {
  return absl::StrFormat("%.*f", digits, value);
}

// Latency cells: three significant figures from 0.001 ms up.
std::string LatencyCell(double ms) {
  if (ms >= 100) return Fixed(ms, 0);
  if (ms >= 10) return Fixed(ms, 1);
  if (ms >= 1) return Fixed(ms, 2);
  return Fixed(ms, 3);
}

}  // namespace

BenchRow MakeRow(const LoadPoint& point, const LoadResult& result) {
  BenchRow row;
  row.concurrency = point.concurrency;
  row.rate = point.rate;
  const WindowFigures& totals = result.totals;
  row.sent = totals.sent;
  row.succeeded = totals.succeeded;
  row.failed = totals.failed;
  row.errors = totals.errors;
  row.refused = totals.refused;
  row.refused_by_code = totals.refused_by_code;
  row.answered_by = totals.answered_by;
  row.late = totals.late;
  const WindowFigures& figures = result.figures;
  row.seconds = figures.seconds();
  if (row.seconds > 0) {
    row.throughput = figures.succeeded / row.seconds;
    row.request_mb_per_second = figures.request_bytes / row.seconds * 1e-6;
    row.response_mb_per_second = figures.response_bytes / row.seconds * 1e-6;
  }
  const LatencyHistogram& latency = figures.latency;
  row.min_ms = Milliseconds(latency.min());
  row.mean_ms = latency.mean() * 1e-6;
  row.p50_ms = Milliseconds(latency.Percentile(0.50));
  row.p90_ms = Milliseconds(latency.Percentile(0.90));
  row.p95_ms = Milliseconds(latency.Percentile(0.95));
  row.p99_ms = Milliseconds(latency.Percentile(0.99));
  row.p999_ms = Milliseconds(latency.Percentile(0.999));
  row.max_ms = Milliseconds(latency.max());
  row.error_p50_ms = Milliseconds(figures.error_latency.Percentile(0.5));
  row.windows = static_cast<int>(result.windows.size());
  row.stable = result.stable;
  return row;
}

std::string RenderTable(const BenchReport& report) {
  const bool open_loop = !report.rows.empty() && report.rows[0].rate;
  std::vector<std::string> header = {open_loop ? "RATE/s" : "CONC", "SENT",
                                     "OK", "ERRORS"};
  if (open_loop) header.push_back("LATE%");
  for (const char* column : {"REQ/s", "MB/s out", "MB/s in", "MIN ms", "P50",
                             "P90", "P95", "P99", "P99.9", "MAX", "MEAN"}) {
    header.push_back(column);
  }
  const bool stability =
      std::any_of(report.rows.begin(), report.rows.end(),
                  [](const BenchRow& row) { return row.windows > 0; });
  if (stability) header.push_back("STABLE");
  TextTable table(header);
  for (size_t c = 0; c + (stability ? 1 : 0) < header.size(); ++c) {
    table.AlignRight(c);
  }
  for (const BenchRow& row : report.rows) {
    std::vector<std::string> cells = {
        open_loop ? absl::StrCat(*row.rate) : absl::StrCat(row.concurrency),
        absl::StrCat(row.sent), absl::StrCat(row.succeeded),
        absl::StrCat(row.failed)};
    if (open_loop) cells.push_back(Fixed(100 * row.late_share(), 1));
    cells.push_back(Fixed(row.throughput, 1));
    cells.push_back(Fixed(row.request_mb_per_second, 2));
    cells.push_back(Fixed(row.response_mb_per_second, 2));
    // Without a success there is no latency to show: "-", never 0.
    for (double ms : {row.min_ms, row.p50_ms, row.p90_ms, row.p95_ms,
                      row.p99_ms, row.p999_ms, row.max_ms, row.mean_ms}) {
      cells.push_back(row.succeeded > 0 ? LatencyCell(ms) : "-");
    }
    if (stability) {
      cells.push_back(absl::StrCat(row.stable ? "yes" : "NO", " (", row.windows,
                                   " windows)"));
    }
    table.AddRow(std::move(cells));
  }
  std::string out = absl::StrCat(
      "lossctl bench: ", report.mode, ", ", report.connections,
      report.connections == 1 ? " connection" : " connections", ", ",
      report.stop_rule, " after ", report.warmup_seconds, "s warm-up",
      report.verified ? ", answers verified" : "", "\n",
      "request: ", report.request_description, " (", report.request_bytes,
      " bytes)\n", "target: ", absl::StrJoin(report.targets, ", "), "\n\n",
      table.Render());
  for (const BenchRow& row : report.rows) {
    if (row.refused > 0) {
      absl::StrAppend(&out, "refused as expected at ",
                      row.rate ? absl::StrCat("rate ", *row.rate)
                               : absl::StrCat("concurrency ", row.concurrency),
                      ": ", ErrorsText(row.refused_by_code, ", "), "\n");
    }
    if (report.targets.size() > 1) {
      absl::StrAppend(&out, "answered by: ", ErrorsText(row.answered_by, ", "),
                      "\n");
    }
    if (row.errors.empty()) continue;
    absl::StrAppend(
        &out, "errors at ",
        row.rate ? absl::StrCat("rate ", *row.rate)
                 : absl::StrCat("concurrency ", row.concurrency),
        ": ", ErrorsText(row.errors, ", "),
        absl::StrFormat(" (median %.3f ms to fail)", row.error_p50_ms), "\n");
  }
  return out;
}

std::string RenderJson(const BenchReport& report) {
  nlohmann::ordered_json json;
  json["tool"] = "lossctl bench";
  json["started_at"] = report.started_at;
  json["command_line"] = report.command_line;
  json["targets"] = report.targets;
  json["request"] = {{"description", report.request_description},
                     {"bytes", report.request_bytes}};
  json["mode"] = report.mode;
  json["connections"] = report.connections;
  json["warmup_seconds"] = report.warmup_seconds;
  json["stop_rule"] = report.stop_rule;
  json["verified"] = report.verified;
  json["machine"] = {{"hostname", report.machine.hostname},
                     {"cpu_model", report.machine.cpu_model},
                     {"logical_cpus", report.machine.logical_cpus},
                     {"kernel", report.machine.kernel},
                     {"memory_gib", report.machine.memory_gib},
                     {"load_average_at_start", report.machine.load_average}};
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const BenchRow& row : report.rows) {
    nlohmann::ordered_json r;
    r["concurrency"] = row.concurrency;
    r["rate"] = row.rate ? nlohmann::ordered_json(*row.rate) : nullptr;
    r["sent"] = row.sent;
    r["succeeded"] = row.succeeded;
    r["failed"] = row.failed;
    r["errors"] = row.errors;
    r["refused_as_expected"] = row.refused;
    r["refused_by_code"] = row.refused_by_code;
    r["answered_by"] = row.answered_by;
    r["late"] = row.late;
    r["late_share"] = row.late_share();
    r["seconds"] = row.seconds;
    r["throughput_per_second"] = row.throughput;
    r["request_mb_per_second"] = row.request_mb_per_second;
    r["response_mb_per_second"] = row.response_mb_per_second;
    r["latency_ms"] = {{"min", row.min_ms},    {"mean", row.mean_ms},
                       {"p50", row.p50_ms},    {"p90", row.p90_ms},
                       {"p95", row.p95_ms},    {"p99", row.p99_ms},
                       {"p99.9", row.p999_ms}, {"max", row.max_ms}};
    r["error_latency_p50_ms"] = row.error_p50_ms;
    if (row.windows > 0) {
      r["windows"] = row.windows;
      r["stable"] = row.stable;
    }
    rows.push_back(std::move(r));
  }
  json["results"] = std::move(rows);
  return json.dump(2) + "\n";
}

std::string RenderCsv(const BenchReport& report) {
  std::string out =
      "concurrency,rate,sent,succeeded,failed,late,seconds,"
      "throughput_per_second,request_mb_per_second,response_mb_per_second,"
      "min_ms,mean_ms,p50_ms,p90_ms,p95_ms,p99_ms,p99.9_ms,max_ms,stable,"
      "errors\n";
  for (const BenchRow& row : report.rows) {
    absl::StrAppend(
        &out, row.concurrency, ",", row.rate ? absl::StrCat(*row.rate) : "",
        ",", row.sent, ",", row.succeeded, ",", row.failed, ",", row.late, ",",
        absl::StrFormat("%.6f,%.3f,%.6f,%.6f", row.seconds, row.throughput,
                        row.request_mb_per_second, row.response_mb_per_second),
        absl::StrFormat(",%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f", row.min_ms,
                        row.mean_ms, row.p50_ms, row.p90_ms, row.p95_ms,
                        row.p99_ms, row.p999_ms, row.max_ms),
        ",", row.stable ? "true" : "false", ",", ErrorsText(row.errors, ";"),
        "\n");
  }
  return out;
}

}  // namespace lossctl::bench
