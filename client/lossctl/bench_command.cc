// `lossctl bench`: load tests lossd and reports throughput and latency.
// The flags are turned into requests, channels and sweep points here;
// bench/ does the measuring and the reporting.

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/html_report.h"
#include "bench/load_engine.h"
#include "bench/machine_info.h"
#include "bench/report.h"
#include "bench/request_generator.h"
#include "command_line.h"
#include "commands.h"
#include "connection.h"
#include "file_io.h"
#include "lossd/v1/loss_service.pb.h"
#include "request_flags.h"
#include "rpc_status.h"

ABSL_FLAG(std::string, concurrency, "1",
          "bench: calls in flight (closed loop); a comma list sweeps, e.g. "
          "1,4,16,64. With --stream and --rate: the number of streams.");
ABSL_FLAG(int, connections, 1,
          "bench: TCP connections (per target) the calls are spread over.");
ABSL_FLAG(std::string, rate, "",
          "bench: open loop at this many calls per second; a comma list "
          "sweeps, e.g. 100,200,400. Empty: closed loop.");
ABSL_FLAG(std::string, arrival, "constant",
          "bench: open-loop arrivals, constant or poisson.");
ABSL_FLAG(absl::Duration, duration, absl::ZeroDuration(),
          "bench: measuring time per point (default 10s; with --requests or "
          "--stability only a cap).");
ABSL_FLAG(int64_t, requests, 0,
          "bench: measured calls per point, instead of a duration.");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(1),
          "bench: load before each point's measurement, not counted.");
ABSL_FLAG(bool, stream, false,
          "bench: use ComputeStream (one call at a time per stream in closed "
          "loop) instead of unary Compute.");
ABSL_FLAG(bool, stability, false,
          "bench: measure windows of --measurement_interval until the last "
          "three agree within --stability_percentage (as perf_analyzer).");
ABSL_FLAG(double, stability_percentage, 10,
          "bench: how far (percent) the last three windows may differ.");
ABSL_FLAG(absl::Duration, measurement_interval, absl::Seconds(2),
          "bench: stability window length.");
ABSL_FLAG(int, max_windows, 10, "bench: stability gives up after this many.");
ABSL_FLAG(int64_t, max_in_flight, 4096,
          "bench: open-loop cap on calls in flight; at the cap sends wait and "
          "count as late.");
ABSL_FLAG(
    absl::Duration, late_threshold, absl::Milliseconds(1),
    "bench: an open-loop send this much after its intended time is late.");
ABSL_FLAG(std::string, shape, "32x1000",
          "bench: the generated input's shape, e.g. 256x32000.");
ABSL_FLAG(std::string, target_kind, "",
          "bench: generated target: class_index, probabilities, multi_label "
          "or values (default: the loss's first).");
ABSL_FLAG(uint64_t, seed, 1,
          "bench: seed of the generated request and of Poisson arrivals.");
ABSL_FLAG(bool, grad, true,
          "bench: ask for grad_input in generated requests (as the server's "
          "default does).");
ABSL_FLAG(std::string, request, "",
          "bench: send these ComputeRequest files (from compute "
          "--save_request; comma list, used in turn) instead of generating.");
ABSL_FLAG(bool, verify, false,
          "bench: check every answer's loss and reduction statistics against "
          "the library's, computed here once per distinct request; "
          "mismatches count as VERIFY_FAILED. A request the library refuses "
          "must be refused with the same code: such calls count as refused "
          "as expected (not failed), any other outcome as failed.");
ABSL_FLAG(double, verify_tolerance, 1e-6,
          "bench: relative tolerance of --verify.");
ABSL_FLAG(std::string, json, "",
          "bench: write the results as JSON to this file (- for stdout).");
ABSL_FLAG(std::string, csv, "",
          "bench: write the results as CSV to this file (- for stdout).");
ABSL_FLAG(std::string, html, "",
          "bench: write a self-contained HTML report with latency/throughput "
          "plots to this file.");
ABSL_FLAG(bool, progress, true,
          "bench: a live progress line on stderr (only on a terminal).");

namespace lossctl {
namespace {

namespace v1 = ::lossd::v1;
using bench::LoadPoint;

absl::StatusOr<std::vector<double>> ParseList(const std::string& text,
                                              const char* flag) {
  std::vector<double> values;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    double value;
    if (!absl::SimpleAtod(absl::StripAsciiWhitespace(part), &value) ||
        !(value > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag, " \"", text, "\" must be a comma list of numbers > 0"));
    }
    values.push_back(value);
  }
  return values;
}

absl::StatusOr<std::vector<LoadPoint>> SweepPoints() {
  absl::StatusOr<std::vector<double>> concurrency =
      ParseList(absl::GetFlag(FLAGS_concurrency), "concurrency");
  if (!concurrency.ok()) return concurrency.status();
  absl::StatusOr<std::vector<double>> rates =
      ParseList(absl::GetFlag(FLAGS_rate), "rate");
  if (!rates.ok()) return rates.status();
  if (concurrency->empty()) concurrency->push_back(1);
  for (double c : *concurrency) {
    if (c != static_cast<int>(c) || c > 100000) {
      return absl::InvalidArgumentError(
          "--concurrency values must be whole numbers up to 100000");
    }
  }
  std::vector<LoadPoint> points;
  if (rates->empty()) {
    for (double c : *concurrency) {
      points.push_back(LoadPoint{.concurrency = static_cast<int>(c)});
    }
    return points;
  }
  if (concurrency->size() > 1) {
    return absl::InvalidArgumentError(
        "sweep either --concurrency or --rate, not both");
  }
  for (double rate : *rates) {
    points.push_back(LoadPoint{
        .concurrency = static_cast<int>((*concurrency)[0]), .rate = rate});
  }
  return points;
}

std::string DescribeTensor(const v1::Tensor& tensor) {
  return absl::StrCat(DTypeShortName(tensor.dtype()), " [",
                      absl::StrJoin(tensor.shape(), ", "), "]");
}

std::string DescribeRequest(const v1::ComputeRequest& request) {
  std::vector<std::string> outputs;
  if (request.outputs().per_example()) outputs.push_back("per_example");
  if (request.outputs().grad_input()) outputs.push_back("grad_input");
  return absl::StrCat(
      request.loss(), ", input ", DescribeTensor(request.input()), ", target ",
      DescribeTensor(request.target()),
      request.reduction() != v1::REDUCTION_UNSPECIFIED
          ? absl::StrCat(", ", v1::Reduction_Name(request.reduction()))
          : "",
      ", returns loss", outputs.empty() ? "" : " + ",
      absl::StrJoin(outputs, " + "));
}

// The requests to send: from --request files, or generated from flags.
absl::Status LoadRequests(std::vector<v1::ComputeRequest>* requests,
                          std::string* description) {
  if (const std::string files = absl::GetFlag(FLAGS_request); !files.empty()) {
    std::vector<std::string> descriptions;
    for (absl::string_view file :
         absl::StrSplit(files, ',', absl::SkipEmpty())) {
      const std::string path(absl::StripAsciiWhitespace(file));
      absl::StatusOr<std::string> bytes = ReadFile(path);
      if (!bytes.ok()) return bytes.status();
      v1::ComputeRequest request;
      if (!request.ParseFromString(*bytes)) {
        return absl::InvalidArgumentError(absl::StrCat(
            path,
            " is not a ComputeRequest (write one with lossctl compute "
            "--save_request FILE --dry_run)"));
      }
      descriptions.push_back(
          absl::StrCat(path, ": ", DescribeRequest(request)));
      requests->push_back(std::move(request));
    }
    *description = absl::StrJoin(descriptions, "; ");
    return absl::OkStatus();
  }
  bench::GeneratorSpec spec;
  spec.request.grad_input = absl::GetFlag(FLAGS_grad);
  if (absl::Status s = ApplyRequestFlags(&spec.request); !s.ok()) return s;
  spec.dtype = spec.request.float_dtype;
  absl::StatusOr<std::vector<int64_t>> shape =
      bench::ParseShape(absl::GetFlag(FLAGS_shape));
  if (!shape.ok()) return shape.status();
  spec.shape = *shape;
  if (const std::string kind = absl::GetFlag(FLAGS_target_kind);
      !kind.empty()) {
    absl::StatusOr<v1::TargetKind> parsed = bench::ParseTargetKind(kind);
    if (!parsed.ok()) return parsed.status();
    spec.target_kind = *parsed;
  }
  spec.seed = absl::GetFlag(FLAGS_seed);
  absl::StatusOr<v1::ComputeRequest> request = bench::GenerateRequest(spec);
  if (!request.ok()) return request.status();
  *description = absl::StrCat(DescribeRequest(*request), ", seed ", spec.seed);
  requests->push_back(*std::move(request));
  return absl::OkStatus();
}

absl::StatusOr<bench::LoadSettings> Settings() {
  bench::LoadSettings settings;
  settings.stream = absl::GetFlag(FLAGS_stream);
  absl::StatusOr<bench::ArrivalProcess> arrival =
      bench::ParseArrivalProcess(absl::GetFlag(FLAGS_arrival));
  if (!arrival.ok()) return arrival.status();
  settings.arrival = *arrival;
  settings.seed = absl::GetFlag(FLAGS_seed);
  settings.warmup = absl::GetFlag(FLAGS_warmup);
  settings.requests = absl::GetFlag(FLAGS_requests);
  settings.stability = absl::GetFlag(FLAGS_stability);
  settings.duration = absl::GetFlag(FLAGS_duration);
  if (settings.duration <= absl::ZeroDuration() && settings.requests == 0 &&
      !settings.stability) {
    settings.duration = absl::Seconds(10);
  }
  settings.timeout = TimeoutOr(absl::Seconds(10));
  settings.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  settings.late_threshold = absl::GetFlag(FLAGS_late_threshold);
  settings.stability_percentage = absl::GetFlag(FLAGS_stability_percentage);
  settings.measurement_interval = absl::GetFlag(FLAGS_measurement_interval);
  settings.max_windows = absl::GetFlag(FLAGS_max_windows);
  if (settings.requests < 0 || settings.max_in_flight < 1 ||
      settings.warmup < absl::ZeroDuration() ||
      settings.measurement_interval <= absl::ZeroDuration() ||
      settings.max_windows < 3) {
    return absl::InvalidArgumentError(
        "--requests must be >= 0, --max_in_flight >= 1, --warmup >= 0, "
        "--measurement_interval > 0 and --max_windows >= 3");
  }
  return settings;
}

std::string StopRule(const bench::LoadSettings& settings) {
  std::vector<std::string> rules;
  if (settings.stability) {
    rules.push_back(
        absl::StrCat("until 3 windows of ",
                     absl::FormatDuration(settings.measurement_interval),
                     " agree within ", settings.stability_percentage,
                     "% (at most ", settings.max_windows, ")"));
  }
  if (settings.requests > 0) {
    rules.push_back(absl::StrCat(settings.requests, " calls"));
  }
  if (settings.duration > absl::ZeroDuration()) {
    rules.push_back(absl::FormatDuration(settings.duration));
  }
  return absl::StrCat(absl::StrJoin(rules, " or "), " per point");
}

}  // namespace

int RunBench(const std::vector<std::string>& arguments) {
  if (!arguments.empty()) {
    return ReportUsageError(
        "bench", absl::InvalidArgumentError("takes flags only (see --help)"));
  }
  absl::StatusOr<std::vector<LoadPoint>> points = SweepPoints();
  if (!points.ok()) return ReportUsageError("bench", points.status());
  absl::StatusOr<bench::LoadSettings> settings = Settings();
  if (!settings.ok()) return ReportUsageError("bench", settings.status());
  const int connections = absl::GetFlag(FLAGS_connections);
  if (connections < 1) {
    return ReportUsageError(
        "bench", absl::InvalidArgumentError("--connections must be >= 1"));
  }

  std::vector<v1::ComputeRequest> requests;
  bench::BenchReport report;
  if (absl::Status s = LoadRequests(&requests, &report.request_description);
      !s.ok()) {
    return ReportUsageError("bench", s);
  }
  bench::PreparedRequests prepared;
  for (const v1::ComputeRequest& request : requests) {
    const std::string bytes = request.SerializeAsString();
    grpc::Slice slice(bytes);
    prepared.buffers.emplace_back(&slice, 1);
    prepared.sizes.push_back(static_cast<int64_t>(bytes.size()));
  }
  std::optional<bench::Verifier> verifier;
  if (absl::GetFlag(FLAGS_verify)) {
    verifier = bench::Verifier::Create(requests,
                                       absl::GetFlag(FLAGS_verify_tolerance));
    for (size_t i = 0; i < requests.size(); ++i) {
      std::fprintf(stderr, "lossctl bench: verifying request %zu against %s\n",
                   i, verifier->Describe(static_cast<int>(i)).c_str());
    }
  }

  absl::StatusOr<std::vector<std::string>> targets = SplitTargets(TargetFlag());
  if (!targets.ok()) return ReportUsageError("bench", targets.status());
  absl::StatusOr<std::string> channel_target = ChannelTarget(*targets);
  if (!channel_target.ok()) {
    return ReportUsageError("bench", channel_target.status());
  }
  absl::StatusOr<std::string> authorization = AuthorizationFromFlags();
  if (!authorization.ok())
    return ReportUsageError("bench", authorization.status());
  // A load test reports failures rather than hiding them, unless asked.
  absl::StatusOr<int> retries = RetriesOr(/*fallback=*/0);
  if (!retries.ok()) return ReportUsageError("bench", retries.status());
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < connections; ++i) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        MakeChannel(*channel_target, i, *retries);
    if (!channel.ok()) return ReportUsageError("bench", channel.status());
    channels.push_back(*std::move(channel));
  }
  // Fail early, and keep connection set-up out of the first point's figures.
  for (const auto& channel : channels) {
    if (!channel->WaitForConnected(DeadlineAfter(absl::Seconds(5)))) {
      return ReportRpcError(
          "bench", grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                absl::StrCat("cannot connect to ",
                                             *channel_target, " within 5s")));
    }
  }

  report.started_at =
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  report.command_line = CommandLine();
  report.targets = *targets;
  report.request_bytes = prepared.sizes[0];
  report.mode = absl::StrCat(
      (*points)[0].rate
          ? absl::StrCat("open loop (",
                         bench::ArrivalProcessName(settings->arrival),
                         " arrivals)")
          : "closed loop",
      settings->stream ? ", ComputeStream" : ", unary Compute");
  report.connections = connections;
  report.warmup_seconds = absl::ToDoubleSeconds(settings->warmup);
  report.stop_rule = StopRule(*settings);
  report.verified = verifier.has_value();
  report.machine = bench::DescribeMachine();

  settings->authorization = *authorization;
  const bench::LoadEngine engine(channels, &prepared,
                                 verifier ? &*verifier : nullptr, *settings);
  bench::ProgressLine progress(absl::GetFlag(FLAGS_progress));
  int64_t answered = 0, failed = 0;
  for (const LoadPoint& point : *points) {
    const bench::LoadResult result = engine.Run(point, &progress);
    report.rows.push_back(bench::MakeRow(point, result));
    answered += report.rows.back().succeeded + report.rows.back().refused;
    failed += report.rows.back().failed;
    if (settings->stability && !result.stable) {
      std::fprintf(
          stderr,
          "lossctl bench: not stable within %d windows at %s; "
          "figures are from the last 3\n",
          settings->max_windows,
          point.rate ? absl::StrCat("rate ", *point.rate).c_str()
                     : absl::StrCat("concurrency ", point.concurrency).c_str());
    }
  }

  const std::string json_path = absl::GetFlag(FLAGS_json);
  const std::string csv_path = absl::GetFlag(FLAGS_csv);
  const std::string html_path = absl::GetFlag(FLAGS_html);
  if (json_path != "-" && csv_path != "-") {
    std::fputs(bench::RenderTable(report).c_str(), stdout);
  }
  struct Output {
    const std::string& path;
    std::string (*render)(const bench::BenchReport&);
  };
  for (const Output& output : {Output{json_path, &bench::RenderJson},
                               Output{csv_path, &bench::RenderCsv},
                               Output{html_path, &bench::RenderHtml}}) {
    if (output.path.empty()) continue;
    if (absl::Status s = WriteFile(output.path, output.render(report));
        !s.ok()) {
      return ReportUsageError("bench", s);
    }
  }
  // Any failed call (an error, or with --verify a wrong answer or a wrong
  // error code) fails the run, so that scripts and CI cannot miss it.
  if (failed > 0 || answered == 0) {
    std::fprintf(stderr, "lossctl bench: %lld call(s) failed%s; exit code %d\n",
                 static_cast<long long>(failed),
                 answered == 0 ? " and none was answered" : "", kExitRpcFailed);
    return kExitRpcFailed;
  }
  return kExitOk;
}

}  // namespace lossctl
