#include "bench/html_report.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/svg_chart.h"

namespace lossctl::bench {
namespace {

std::string PointLabel(const BenchRow& row) {
  return row.rate ? absl::StrCat(*row.rate, "/s")
                  : absl::StrCat("c=", row.concurrency);
}

std::string LatencyChart(const BenchReport& report) {
  ChartSpec spec;
  spec.title = "Latency against throughput";
  spec.x_label = "throughput (succeeded calls per second)";
  spec.y_label = "latency (ms)";
  struct Line {
    const char* name;
    const char* color;
    bool dashed;
    double BenchRow::*field;
  };
  for (const Line& line :
       {Line{"p50", "#1f77b4", false, &BenchRow::p50_ms},
        Line{"p90", "#2ca02c", false, &BenchRow::p90_ms},
        Line{"p99", "#d62728", false, &BenchRow::p99_ms},
        Line{"p99.9", "#9467bd", true, &BenchRow::p999_ms}}) {
    ChartSeries series{
        .name = line.name, .color = line.color, .dashed = line.dashed};
    for (const BenchRow& row : report.rows) {
      if (row.succeeded == 0) continue;
      // Only the p50 line carries the point labels, to keep it readable.
      series.points.push_back(
          {row.throughput, row.*line.field,
           line.field == &BenchRow::p50_ms ? PointLabel(row) : ""});
    }
    spec.series.push_back(std::move(series));
  }
  return RenderSvgChart(spec);
}

std::string ThroughputChart(const BenchReport& report) {
  const bool open_loop = !report.rows.empty() && report.rows[0].rate;
  ChartSpec spec;
  spec.title = open_loop ? "Achieved against offered rate"
                         : "Throughput against concurrency";
  spec.x_label = open_loop ? "offered rate (calls per second)"
                           : "concurrency (calls in flight)";
  spec.y_label = "calls per second";
  spec.automatic_log_y = false;
  ChartSeries achieved{.name = "succeeded/s", .color = "#1f77b4"};
  ChartSeries failed{.name = "failed/s", .color = "#d62728", .dashed = true};
  ChartSeries offered{.name = "offered", .color = "#999999", .dashed = true};
  for (const BenchRow& row : report.rows) {
    const double x = open_loop ? *row.rate : row.concurrency;
    achieved.points.push_back({x, row.throughput, ""});
    failed.points.push_back(
        {x, row.seconds > 0 ? row.failed / row.seconds : 0, ""});
    if (open_loop) offered.points.push_back({x, *row.rate, ""});
  }
  spec.series.push_back(std::move(achieved));
  spec.series.push_back(std::move(failed));
  if (open_loop) spec.series.push_back(std::move(offered));
  return RenderSvgChart(spec);
}

std::string TableHtml(const BenchReport& report) {
  const bool open_loop = !report.rows.empty() && report.rows[0].rate;
  std::string html = "<table>\n<tr>";
  for (const char* column :
       {open_loop ? "rate/s" : "concurrency", "sent", "ok", "failed", "late %",
        "req/s", "MB/s out", "MB/s in", "min", "p50", "p90", "p95", "p99",
        "p99.9", "max", "mean", "errors"}) {
    absl::StrAppend(&html, "<th>", column, "</th>");
  }
  html += "</tr>\n";
  for (const BenchRow& row : report.rows) {
    std::string errors;
    for (const auto& [code, count] : row.errors) {
      absl::StrAppend(&errors, errors.empty() ? "" : ", ", code, "=", count);
    }
    absl::StrAppendFormat(
        &html,
        "<tr%s><td>%s</td><td>%d</td><td>%d</td><td>%d</td><td>%.1f</td>"
        "<td>%.1f</td><td>%.2f</td><td>%.2f</td>",
        row.failed > 0 ? " class=\"failing\"" : "",
        open_loop ? absl::StrCat(*row.rate) : absl::StrCat(row.concurrency),
        row.sent, row.succeeded, row.failed, 100 * row.late_share(),
        row.throughput, row.request_mb_per_second, row.response_mb_per_second);
    // Without a success there is no latency to show: "-", never 0.
    for (double ms : {row.min_ms, row.p50_ms, row.p90_ms, row.p95_ms,
                      row.p99_ms, row.p999_ms, row.max_ms, row.mean_ms}) {
      absl::StrAppend(&html, "<td>",
                      row.succeeded > 0 ? absl::StrFormat("%.3f", ms) : "-",
                      "</td>");
    }
    absl::StrAppend(&html, "<td>", EscapeHtml(errors), "</td></tr>\n");
  }
  html +=
      "</table>\n<p class=\"note\">Latencies in milliseconds, of "
      "succeeded calls";
  if (open_loop) html += ", measured from each call's intended send time";
  html += ".</p>\n";
  return html;
}

}  // namespace

std::string RenderHtml(const BenchReport& report) {
  const MachineInfo& machine = report.machine;
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>lossctl bench ",
      EscapeHtml(report.started_at),
      "</title>\n<style>\n"
      "body{font-family:sans-serif;margin:2em auto;max-width:1000px;"
      "color:#222}\n"
      "table{border-collapse:collapse;font-size:13px;margin-top:1em}\n"
      "th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}\n"
      "th{background:#f3f3f3}\ntr.failing td{background:#fde8e8}\n"
      "dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px}\n"
      "dt{font-weight:bold}\ndd{margin:0}\n.note{color:#666;font-size:12px}\n"
      "code{background:#f3f3f3;padding:1px 4px}\n"
      "</style>\n</head>\n<body>\n<h1>lossctl bench</h1>\n<dl>\n");
  auto item = [&](const char* name, const std::string& value) {
    absl::StrAppend(&html, "<dt>", name, "</dt><dd>", EscapeHtml(value),
                    "</dd>\n");
  };
  item("started", report.started_at);
  item("command", report.command_line);
  item("targets", absl::StrJoin(report.targets, ", "));
  item("request", absl::StrCat(report.request_description, " (",
                               report.request_bytes, " bytes)"));
  item("mode",
       absl::StrCat(report.mode, ", ", report.connections, " connection(s)"));
  item("measured",
       absl::StrCat(report.stop_rule, " after ", report.warmup_seconds,
                    "s warm-up", report.verified ? ", answers verified" : ""));
  item("machine",
       absl::StrFormat("%s: %d logical CPUs, %s, %.1f GiB, %s; load average "
                       "at start %s",
                       machine.hostname, machine.logical_cpus,
                       machine.cpu_model, machine.memory_gib, machine.kernel,
                       machine.load_average));
  html += "</dl>\n";
  html += LatencyChart(report);
  html += ThroughputChart(report);
  html += TableHtml(report);
  html += "</body>\n</html>\n";
  return html;
}

}  // namespace lossctl::bench
