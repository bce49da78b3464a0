// lossd_bench_echo: a benchmark-only gRPC server whose one method returns
// the payload it was sent. It is the yardstick for what gRPC itself costs
// to move a request's bytes in and the same bytes out, measured beside a
// lossd Compute of the same bytes.
//
// The server is configured as server/main.cc configures lossd (sync server,
// one completion queue, the same thread quota and message limits; pollers at
// the echo's best) and is linked with the same allocator, so that the only
// difference between the two round trips is lossd's own work. Keep the two
// in step.

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "lossd/bench/v1/echo.grpc.pb.h"

ABSL_FLAG(std::string, address, "127.0.0.1:0",
          "Address to listen on (host:port); port 0 picks a free port.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound port is written to this file once serving.");
ABSL_FLAG(int, threads, 0,
          "As lossd's --threads: 0 means 4 per core, at least 16.");
ABSL_FLAG(int64_t, max_request_bytes, 64 << 20,
          "Largest request message accepted, as lossd's flag.");
ABSL_FLAG(bool, callback, false,
          "Serve with gRPC's callback API instead of the sync API.");

namespace {

class EchoServiceImpl final : public lossd::bench::v1::EchoService::Service {
  grpc::Status Echo(grpc::ServerContext* context,
                    const lossd::bench::v1::EchoMessage* request,
                    lossd::bench::v1::EchoMessage* response) override {
    // gRPC at its best: hand the received bytes back without a copy. The
    // request object is gRPC's own non-const allocation, dropped after
    // this call returns.
    response->mutable_payload()->swap(
        *const_cast<lossd::bench::v1::EchoMessage*>(request)
             ->mutable_payload());
    return grpc::Status::OK;
  }
};

// The same echo on the callback API: the handler runs on a gRPC thread and
// finishes the call before returning, with no hand-off to a worker thread.
class EchoCallbackServiceImpl final
    : public lossd::bench::v1::EchoService::CallbackService {
  grpc::ServerUnaryReactor* Echo(
      grpc::CallbackServerContext* context,
      const lossd::bench::v1::EchoMessage* request,
      lossd::bench::v1::EchoMessage* response) override {
    response->mutable_payload()->swap(
        *const_cast<lossd::bench::v1::EchoMessage*>(request)
             ->mutable_payload());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // As lossd: Debian's Abseil tracks lock order on every Mutex operation.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  EchoServiceImpl service;
  EchoCallbackServiceImpl callback_service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_address),
                           grpc::InsecureServerCredentials(), &port);
  if (absl::GetFlag(FLAGS_callback)) {
    builder.RegisterService(&callback_service);
  } else {
    builder.RegisterService(&service);
  }
  const int64_t max_request_bytes = absl::GetFlag(FLAGS_max_request_bytes);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<int64_t>(max_request_bytes, INT32_MAX)));
  builder.SetMaxSendMessageSize(-1);
  int threads = absl::GetFlag(FLAGS_threads);
  if (threads <= 0) {
    threads =
        std::max(16, 4 * static_cast<int>(std::thread::hardware_concurrency()));
  }
  // gRPC's default, the echo's best: more pollers cost it CPU per call
  // (lossd uses 16, which pays off for handlers that take longer).
  constexpr int kMaxPollers = 2;
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS,
                              1);
  builder.SetSyncServerOption(
      grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, kMaxPollers);
  grpc::ResourceQuota quota("lossd_bench_echo");
  quota.SetMaxThreads(threads + threads / 4 + kMaxPollers + 1);
  builder.SetResourceQuota(quota);

  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "cannot listen on %s\n",
                 absl::GetFlag(FLAGS_address).c_str());
    return 1;
  }
  if (const std::string port_file = absl::GetFlag(FLAGS_port_file);
      !port_file.empty()) {
    std::ofstream(port_file) << port << "\n";
  }
  std::thread stopper([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    server->Shutdown(std::chrono::system_clock::now() +
                     std::chrono::seconds(2));
  });
  server->Wait();
  stopper.join();
  return 0;
}
