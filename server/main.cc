// lossd: the loss-computation gRPC server.
//
// Serves lossd.v1.LossService, grpc.health.v1.Health and server reflection.
// Health service names: "liveness" stays SERVING until the server stops;
// "readiness" (and the overall "") turn NOT_SERVING as draining starts.
// Prometheus metrics are served on --metrics_address at /metrics.
// SIGTERM or SIGINT: health turns NOT_SERVING, new calls are refused with
// UNAVAILABLE (for --drain_delay_seconds, then gRPC stops listening),
// in-flight calls get --grace_period_seconds to finish, then exit 0.

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "admission.h"
#include "compute_pool.h"
#include "conversion.h"
#include "environment_flags.h"
#include "grpc/grpc.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "loss_service.h"
#include "metrics.h"
#include "request_log.h"

ABSL_FLAG(std::string, address, "0.0.0.0:50051",
          "Address to listen on (host:port); port 0 picks a free port.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound port is written to this file once serving.");
ABSL_FLAG(int64_t, max_concurrent_requests, 0,
          "Requests served at once (Compute calls and ComputeStream "
          "messages being computed); past it RESOURCE_EXHAUSTED at once, "
          "nothing queues. 0 means --threads if set, else 16 per core, at "
          "least 64. This is the one concurrency limit: gRPC's threads are "
          "sized from it.");
ABSL_FLAG(int, threads, 0,
          "The former name of --max_concurrent_requests, used when that is "
          "0; kept so that existing LOSSD_THREADS settings still apply.");
ABSL_FLAG(int, compute_threads, 1,
          "Threads one request's computation may use; only batches of a "
          "million elements or more are split, and the answer does not "
          "depend on it. 0 means one per core. More than 1 lowers the latency "
          "of large requests on an idle machine, and raises it when the cores "
          "are busy with other requests.");
ABSL_FLAG(int64_t, max_request_bytes, 64 << 20,
          "Largest request message accepted; larger ones get "
          "RESOURCE_EXHAUSTED. The limits below that are 0 scale with it.");
ABSL_FLAG(int64_t, max_elements, 0,
          "Most input elements in one request; past it RESOURCE_EXHAUSTED. "
          "0 means --max_request_bytes / 2 (a request of 16-bit values at "
          "the size limit).");
ABSL_FLAG(int64_t, max_response_bytes, 0,
          "Largest response: the outputs a request asks for (gradient, "
          "per-example losses) in its grad_dtype, known before computing; "
          "larger ones are refused up front with RESOURCE_EXHAUSTED. 0 means "
          "2 x --max_request_bytes (a float64 gradient of a float32 input at "
          "the size limit).");
ABSL_FLAG(int64_t, max_in_flight_bytes, 0,
          "Most bytes held by the requests being served: each counts its "
          "request and its response; past it RESOURCE_EXHAUSTED at once. "
          "Bounds the server's memory with --max_concurrent_requests. 0 "
          "means 16 x --max_request_bytes (1 GiB at the default).");
ABSL_FLAG(double, grace_period_seconds, 10,
          "On SIGTERM, how long in-flight calls may run before cancellation.");
ABSL_FLAG(double, drain_delay_seconds, 1,
          "On SIGTERM, how long lossd keeps listening while it refuses new "
          "calls with UNAVAILABLE (which clients retry on another replica) "
          "before it stops listening; part of --grace_period_seconds. Calls "
          "that reach gRPC in the instant it stops are cancelled by gRPC, "
          "not refused: the delay lets callers move away first.");
ABSL_FLAG(std::string, log_level, "info",
          "Log level: debug, info, warn, error or off.");
ABSL_FLAG(std::string, log_format, "text", "Log format: text or json.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain; with --tls_key_file, serve TLS only.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key for TLS.");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle; if set, clients must present a certificate it "
          "signed (mutual TLS).");
ABSL_FLAG(std::string, auth_token_file, "",
          "File of accepted bearer tokens, one per line; if set, LossService "
          "calls need `authorization: Bearer <token>` metadata (health and "
          "reflection stay open).");
ABSL_FLAG(std::string, metrics_address, "0.0.0.0:9090",
          "Address (host:port) serving Prometheus metrics at /metrics; empty "
          "disables them. If it cannot listen, lossd warns and serves on.");
ABSL_FLAG(std::string, metrics_port_file, "",
          "If set, the bound metrics port is written to this file.");

namespace {

using lossd::server::LogEvent;
using lossd::server::LogLevel;

// Health service names for Kubernetes-style probes (docs/OPERATIONS.md).
constexpr char kLivenessService[] = "liveness";
constexpr char kReadinessService[] = "readiness";

// The admission limits from the flags, with the defaults their help states.
absl::StatusOr<lossd::server::Limits> LimitsFromFlags() {
  lossd::server::Limits limits;
  limits.max_request_bytes = absl::GetFlag(FLAGS_max_request_bytes);
  if (limits.max_request_bytes <= 0) {
    return absl::InvalidArgumentError("--max_request_bytes must be positive");
  }
  limits.max_elements = absl::GetFlag(FLAGS_max_elements);
  if (limits.max_elements <= 0) {
    limits.max_elements = limits.max_request_bytes / 2;
  }
  limits.max_response_bytes = absl::GetFlag(FLAGS_max_response_bytes);
  if (limits.max_response_bytes <= 0) {
    limits.max_response_bytes = 2 * limits.max_request_bytes;
  }
  limits.max_in_flight_bytes = absl::GetFlag(FLAGS_max_in_flight_bytes);
  if (limits.max_in_flight_bytes <= 0) {
    limits.max_in_flight_bytes = 16 * limits.max_request_bytes;
  }
  limits.max_concurrent_requests = absl::GetFlag(FLAGS_max_concurrent_requests);
  if (limits.max_concurrent_requests <= 0) {
    limits.max_concurrent_requests = absl::GetFlag(FLAGS_threads);
  }
  if (limits.max_concurrent_requests <= 0) {
    limits.max_concurrent_requests = std::max(
        64, 16 * static_cast<int>(std::thread::hardware_concurrency()));
  }
  return limits;
}

int Run() {
  const std::string log_format = absl::GetFlag(FLAGS_log_format);
  if (log_format != "text" && log_format != "json") {
    std::fprintf(stderr, "--log_format must be text or json, not %s\n",
                 log_format.c_str());
    return 2;
  }
  if (!lossd::server::ConfigureLogging(log_format == "json"
                                           ? lossd::server::LogFormat::kJson
                                           : lossd::server::LogFormat::kText,
                                       absl::GetFlag(FLAGS_log_level))) {
    std::fprintf(stderr, "unknown --log_level %s\n",
                 absl::GetFlag(FLAGS_log_level).c_str());
    return 2;
  }

  lossd::server::SetComputeThreads(absl::GetFlag(FLAGS_compute_threads));

  // Signals are taken by a dedicated thread; block them everywhere else
  // before gRPC starts its threads.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // gRPC stays initialized until the process exits: its shutdown, run when
  // the server object goes, joins a poller thread that may sleep until its
  // next timer, a call's deadline away (seen: 9 s after the drain ended).
  // After the mask above, so that gRPC's threads leave the signals to us.
  grpc_init();

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  lossd::server::TokenAuthenticator authenticator;
  if (const std::string path = absl::GetFlag(FLAGS_auth_token_file);
      !path.empty()) {
    absl::StatusOr<lossd::server::TokenAuthenticator> loaded =
        lossd::server::TokenAuthenticator::FromFile(path);
    if (!loaded.ok()) {
      LogEvent(LogLevel::kError, "bad --auth_token_file",
               {{"error", loaded.status().ToString()}});
      return 2;
    }
    authenticator = *std::move(loaded);
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      lossd::server::MakeServerCredentials(
          absl::GetFlag(FLAGS_tls_cert_file), absl::GetFlag(FLAGS_tls_key_file),
          absl::GetFlag(FLAGS_tls_client_ca_file));
  if (!credentials.ok()) {
    LogEvent(LogLevel::kError, "bad TLS configuration",
             {{"error", credentials.status().ToString()}});
    return 2;
  }
  absl::StatusOr<lossd::server::Limits> limits = LimitsFromFlags();
  if (!limits.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(limits.status().message()).c_str());
    return 2;
  }
  lossd::server::Admission admission(*limits);
  // Large requests are computed here, off gRPC's threads; admission bounds
  // its queue.
  lossd::server::ComputePool pool(/*threads=*/0);
  // Outlives the server, which records here.
  lossd::server::Metrics metrics(&lossd::server::DroppedLogLines);
  lossd::server::LossServiceImpl service(std::move(authenticator), &admission,
                                         &pool, &metrics);
  grpc::ServerBuilder builder;
  {
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(metrics.InterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_address), *credentials, &port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(static_cast<int>(
      std::min<int64_t>(limits->max_request_bytes, INT32_MAX)));
  // Responses are checked against max_response_bytes before computing; this
  // is gRPC's own backstop for the same limit.
  builder.SetMaxSendMessageSize(static_cast<int>(
      std::min<int64_t>(limits->max_response_bytes + (1 << 20), INT32_MAX)));
  // Compute runs on the callback API, outside the thread quota; the sync
  // methods (ComputeStream, ListLosses, health, reflection) hold a thread
  // each while served. The quota keeps them within the concurrency limit
  // with room for the pollers and for threads that have answered and not
  // yet been reaped, so that the admission limit, with its clear message,
  // is the one callers meet.
  constexpr int kMaxPollers = 2;
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS,
                              1);
  builder.SetSyncServerOption(
      grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, kMaxPollers);
  const int concurrency = static_cast<int>(
      std::min<int64_t>(limits->max_concurrent_requests, 1 << 20));
  grpc::ResourceQuota quota("lossd");
  quota.SetMaxThreads(concurrency + concurrency / 4 + kMaxPollers + 1);
  builder.SetResourceQuota(quota);

  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    LogEvent(LogLevel::kError, "cannot listen",
             {{"address", absl::GetFlag(FLAGS_address)}});
    return 1;
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus(kLivenessService, true);
  health->SetServingStatus(kReadinessService, true);
  // Clients that check the service by its full name (as grpc-health-probe
  // --service does) follow readiness.
  const std::string service_name(lossd::v1::LossService::service_full_name());
  health->SetServingStatus(service_name, true);
  if (const std::string metrics_address = absl::GetFlag(FLAGS_metrics_address);
      !metrics_address.empty()) {
    absl::StatusOr<int> metrics_port = metrics.Serve(metrics_address);
    if (!metrics_port.ok()) {
      LogEvent(LogLevel::kWarning, "serving without metrics",
               {{"error", std::string(metrics_port.status().message())}});
    } else {
      LogEvent("metrics", {{"address", metrics_address},
                           {"port", std::to_string(*metrics_port)}});
      if (const std::string file = absl::GetFlag(FLAGS_metrics_port_file);
          !file.empty()) {
        std::ofstream(file) << *metrics_port << "\n";
      }
    }
  }
  if (const std::string port_file = absl::GetFlag(FLAGS_port_file);
      !port_file.empty()) {
    std::ofstream(port_file) << port << "\n";
  }
  LogEvent("serving", {{"address", absl::GetFlag(FLAGS_address)},
                       {"port", std::to_string(port)},
                       {"max_concurrent_requests",
                        std::to_string(limits->max_concurrent_requests)}});

  std::thread stopper([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    LogEvent("draining", {{"signal", strsignal(signal_number)}});
    const absl::Time deadline =
        absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_grace_period_seconds));
    // Not ready, still live: probes must not restart a draining server.
    service.StartDraining();
    health->SetServingStatus("", false);
    health->SetServingStatus(kReadinessService, false);
    health->SetServingStatus(service_name, false);
    absl::SleepFor(
        std::min(absl::Seconds(absl::GetFlag(FLAGS_drain_delay_seconds)),
                 deadline - absl::Now()));
    // gRPC's graceful shutdown would also wait, up to the deadline, for
    // clients to close their idle connections; lossd waits for its own
    // calls only, then closes the connections itself.
    while (service.calls_in_flight() > 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    LogEvent("closing",
             {{"calls_in_flight", std::to_string(service.calls_in_flight())}});
    server->Shutdown(std::chrono::system_clock::now());
  });
  server->Wait();
  stopper.join();
  LogEvent("stopped", {});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "lossd: serves loss values and gradients over gRPC.\n"
      "Every flag can also be set as LOSSD_<FLAG NAME IN CAPITALS>.");
  if (absl::Status s = lossd::server::ApplyEnvironmentToFlags(); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 2;
  }
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil is built without NDEBUG, so every Mutex operation (gRPC
  // takes many per call) also tracks lock order for deadlock reports, a debug
  // aid that cost a fifth of the server's CPU per small request.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const int exit_code = Run();
  // Log lines are written by a background thread: the last ones ("stopped",
  // or why lossd could not start) must be out before the process is.
  lossd::server::FlushLogging();
  return exit_code;
}
