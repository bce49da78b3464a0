#include "metrics.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/grpcpp.h"
#include "lossd/registry.h"
#include "lossd/v1/loss_service.pb.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

#ifndef LOSSD_VERSION
#define LOSSD_VERSION "unknown"
#endif

namespace lossd::server {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::InterceptorBatchMethods;
using grpc::experimental::ServerRpcInfo;

constexpr absl::string_view kLossService = "lossd.v1.LossService";

// Past this many distinct methods, further ones are counted as "unknown";
// a guard only, as the known methods are far fewer.
constexpr size_t kMostMethods = 64;

// The names gRPC and go-grpc-prometheus use for the codes 0..16.
constexpr std::array<const char*, 17> kCodeNames = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char* TypeName(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY:
      return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

// Latencies of loss calls are mostly well under a millisecond, so the
// go-grpc-prometheus buckets (5 ms up) get finer ones below.
prometheus::Histogram::BucketBoundaries SecondsBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

// 64 B to 64 MiB (the default --max_request_bytes) in steps of 4.
prometheus::Histogram::BucketBoundaries SizeBuckets() {
  prometheus::Histogram::BucketBoundaries bounds;
  for (double bound = 64; bound <= 64.0 * 1024 * 1024; bound *= 4) {
    bounds.push_back(bound);
  }
  return bounds;
}

// Opens and closes one TCP connection to host:port, ignoring failures.
void Knock(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) !=
      0) {
    return;
  }
  for (addrinfo* at = found; at != nullptr; at = at->ai_next) {
    const int socket_fd = socket(at->ai_family, at->ai_socktype, 0);
    if (socket_fd < 0) continue;
    const bool connected = connect(socket_fd, at->ai_addr, at->ai_addrlen) == 0;
    close(socket_fd);
    if (connected) break;
  }
  freeaddrinfo(found);
}

// The host to reach a listener bound to `address` from this machine.
std::string LocalHostFor(absl::string_view address) {
  const size_t colon = address.rfind(':');
  std::string host(colon == absl::string_view::npos ? address
                                                    : address.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[')
    host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0" || host == "*") return "127.0.0.1";
  if (host == "::") return "::1";
  return host;
}

// Whether `service` serves `method`: the health service (which gRPC
// implements without protobuf descriptors), or a method in the descriptors
// of the services linked in (LossService, reflection).
bool KnownMethod(const std::string& service, const std::string& method) {
  if (service == "grpc.health.v1.Health") {
    return method == "Check" || method == "Watch";
  }
  const google::protobuf::ServiceDescriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          service);
  return descriptor != nullptr &&
         descriptor->FindMethodByName(method) != nullptr;
}

// Which messages a method carries, for the byte and per-loss counts.
enum class MessageKind { kOther, kComputeRequest, kListLossesRequest };

}  // namespace

// The metrics of one method, looked up once per method path.
struct MethodMetrics {
  prometheus::Labels labels;  // grpc_service, grpc_method, grpc_type.
  MessageKind kind = MessageKind::kOther;
  bool loss_service = false;
  prometheus::Counter* started = nullptr;
  prometheus::Histogram* handling_seconds = nullptr;
  prometheus::Counter* received = nullptr;
  prometheus::Counter* sent = nullptr;
  prometheus::Gauge* in_flight = nullptr;
  prometheus::Counter* request_bytes = nullptr;
  prometheus::Counter* response_bytes = nullptr;
  prometheus::Histogram* request_size = nullptr;
  // One per code, made when first needed so that idle series stay out of
  // the exposition.
  std::array<std::atomic<prometheus::Counter*>, kCodeNames.size()> handled{};
};

// A counter kept elsewhere, read at each scrape.
class ExternalCounter final : public prometheus::Collectable {
 public:
  ExternalCounter(std::string name, std::string help,
                  std::function<int64_t()> source)
      : name_(std::move(name)),
        help_(std::move(help)),
        source_(std::move(source)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    if (source_ == nullptr) return {};
    prometheus::MetricFamily family;
    family.name = name_;
    family.help = help_;
    family.type = prometheus::MetricType::Counter;
    family.metric.emplace_back().counter.value = static_cast<double>(source_());
    return {family};
  }

 private:
  const std::string name_;
  const std::string help_;
  const std::function<int64_t()> source_;
};

struct Metrics::State {
  std::shared_ptr<prometheus::Registry> registry =
      std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& started =
      prometheus::BuildCounter()
          .Name("grpc_server_started_total")
          .Help("RPCs started on the server.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& handled =
      prometheus::BuildCounter()
          .Name("grpc_server_handled_total")
          .Help("RPCs completed on the server, by status code.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& handling_seconds =
      prometheus::BuildHistogram()
          .Name("grpc_server_handling_seconds")
          .Help("Time from the start of an RPC to its status being sent.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& received =
      prometheus::BuildCounter()
          .Name("grpc_server_msg_received_total")
          .Help("Messages received from clients.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& sent =
      prometheus::BuildCounter()
          .Name("grpc_server_msg_sent_total")
          .Help("Messages sent to clients.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& in_flight =
      prometheus::BuildGauge()
          .Name("lossd_in_flight_requests")
          .Help("RPCs started and not yet finished.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& loss_requests =
      prometheus::BuildCounter()
          .Name("lossd_loss_requests_total")
          .Help(
              "ComputeRequests received (unary or streamed), by loss name; "
              "names not in the registry count as \"unknown\".")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& request_bytes =
      prometheus::BuildCounter()
          .Name("lossd_request_bytes_total")
          .Help("Serialized bytes of LossService request messages.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& response_bytes =
      prometheus::BuildCounter()
          .Name("lossd_response_bytes_total")
          .Help("Serialized bytes of LossService response messages.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& request_size =
      prometheus::BuildHistogram()
          .Name("lossd_request_size_bytes")
          .Help("Serialized size of LossService request messages.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& refused =
      prometheus::BuildCounter()
          .Name("lossd_refused_requests_total")
          .Help(
              "Compute requests refused with RESOURCE_EXHAUSTED by an "
              "admission limit, by the limit's flag name.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& build_info =
      prometheus::BuildGauge()
          .Name("lossd_build_info")
          .Help("Always 1; the labels say which build is running.")
          .Register(*registry);

  std::shared_ptr<ExternalCounter> dropped_log_lines;

  std::unique_ptr<prometheus::Exposer> exposer;
  std::string exposer_host;  // Where this process reaches the exposer.
  int exposer_port = 0;

  absl::Mutex mutex;
  absl::flat_hash_map<std::string, std::unique_ptr<MethodMetrics>> methods
      ABSL_GUARDED_BY(mutex);

  // The metrics of `path` ("/package.Service/Method"), made on first use.
  MethodMetrics* ForMethod(const char* path, ServerRpcInfo::Type type) {
    std::string key = path == nullptr ? "" : path;
    absl::MutexLock lock(&mutex);
    if (auto it = methods.find(key); it != methods.end()) {
      return it->second.get();
    }
    absl::string_view trimmed(key);
    if (!trimmed.empty() && trimmed.front() == '/') trimmed.remove_prefix(1);
    const size_t slash = trimmed.rfind('/');
    std::string service(slash == absl::string_view::npos
                            ? absl::string_view()
                            : trimmed.substr(0, slash));
    std::string method(
        slash == absl::string_view::npos ? trimmed : trimmed.substr(slash + 1));
    // Paths a client made up share one entry, so they cannot grow the
    // label space (nor this map).
    if (!KnownMethod(service, method) || methods.size() >= kMostMethods) {
      key = "/unknown/unknown";
      service = method = "unknown";
      if (auto it = methods.find(key); it != methods.end()) {
        return it->second.get();
      }
    }
    auto metrics = std::make_unique<MethodMetrics>();
    metrics->labels = {{"grpc_service", std::string(service)},
                       {"grpc_method", std::string(method)},
                       {"grpc_type", TypeName(type)}};
    metrics->loss_service = service == kLossService;
    if (metrics->loss_service) {
      if (method == "Compute" || method == "ComputeStream") {
        metrics->kind = MessageKind::kComputeRequest;
      } else if (method == "ListLosses") {
        metrics->kind = MessageKind::kListLossesRequest;
      }
    }
    const prometheus::Labels method_only = {
        {"grpc_service", std::string(service)},
        {"grpc_method", std::string(method)}};
    metrics->started = &started.Add(metrics->labels);
    metrics->handling_seconds =
        &handling_seconds.Add(metrics->labels, SecondsBuckets());
    metrics->received = &received.Add(metrics->labels);
    metrics->sent = &sent.Add(metrics->labels);
    metrics->in_flight = &in_flight.Add(method_only);
    if (metrics->loss_service) {
      metrics->request_bytes = &request_bytes.Add(method_only);
      metrics->response_bytes = &response_bytes.Add(method_only);
      metrics->request_size = &request_size.Add(method_only, SizeBuckets());
    }
    MethodMetrics* result = metrics.get();
    methods.emplace(std::move(key), std::move(metrics));
    return result;
  }

  prometheus::Counter& Handled(MethodMetrics& method, int code) {
    if (code < 0 || code >= static_cast<int>(kCodeNames.size())) {
      code = static_cast<int>(grpc::StatusCode::UNKNOWN);
    }
    prometheus::Counter* counter =
        method.handled[code].load(std::memory_order_acquire);
    if (counter == nullptr) {
      prometheus::Labels labels = method.labels;
      labels["grpc_code"] = kCodeNames[code];
      // Family::Add returns the existing counter for the same labels, so a
      // race here stores the same pointer twice.
      counter = &handled.Add(labels);
      method.handled[code].store(counter, std::memory_order_release);
    }
    return *counter;
  }

  prometheus::Counter& LossRequests(absl::string_view loss) {
    const LossSpec* spec = FindLoss(loss);
    return loss_requests.Add(
        {{"loss", spec == nullptr ? "unknown" : std::string(spec->name)}});
  }
};

namespace {

// Records one call: created when the call starts, destroyed when it ends.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(Metrics::State& state, MethodMetrics& method)
      : state_(state),
        method_(method),
        start_(std::chrono::steady_clock::now()) {
    method_.started->Increment();
    method_.in_flight->Increment();
  }

  ~MetricsInterceptor() override {
    // A call that ends without sending a status was cancelled.
    if (!finished_) Finish(grpc::StatusCode::CANCELLED);
    method_.in_flight->Decrement();
  }

  void Intercept(InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_MESSAGE)) {
      Received(methods->GetRecvMessage());
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      method_.sent->Increment();
      if (method_.response_bytes != nullptr) {
        // Serializing here is not extra work: gRPC then sends this buffer.
        if (const grpc::ByteBuffer* buffer =
                methods->GetSerializedSendMessage();
            buffer != nullptr) {
          method_.response_bytes->Increment(
              static_cast<double>(buffer->Length()));
        }
      }
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      Finish(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Received(void* message) {
    if (message == nullptr) return;  // End of a client stream.
    method_.received->Increment();
    size_t bytes = 0;
    // The method path fixes the message type, so these casts are exact.
    switch (method_.kind) {
      case MessageKind::kComputeRequest: {
        const auto& request = *static_cast<const v1::ComputeRequest*>(message);
        state_.LossRequests(request.loss()).Increment();
        bytes = request.ByteSizeLong();
        break;
      }
      case MessageKind::kListLossesRequest:
        bytes =
            static_cast<const v1::ListLossesRequest*>(message)->ByteSizeLong();
        break;
      case MessageKind::kOther:
        return;
    }
    method_.request_bytes->Increment(static_cast<double>(bytes));
    method_.request_size->Observe(static_cast<double>(bytes));
  }

  void Finish(grpc::StatusCode code) {
    if (finished_) return;
    finished_ = true;
    state_.Handled(method_, static_cast<int>(code)).Increment();
    method_.handling_seconds->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
            .count());
  }

  Metrics::State& state_;
  MethodMetrics& method_;
  const std::chrono::steady_clock::time_point start_;
  bool finished_ = false;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(Metrics::State& state) : state_(state) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      ServerRpcInfo* info) override {
    return new MetricsInterceptor(
        state_, *state_.ForMethod(info->method(), info->type()));
  }

 private:
  Metrics::State& state_;
};

}  // namespace

Metrics::Metrics(std::function<int64_t()> dropped_log_lines)
    : state_(std::make_unique<State>()) {
  state_->dropped_log_lines = std::make_shared<ExternalCounter>(
      "lossd_log_lines_dropped_total",
      "Log lines dropped because standard error did not keep up.",
      std::move(dropped_log_lines));
  state_->build_info.Add({{"version", LOSSD_VERSION}}).Set(1);
}

Metrics::~Metrics() {
  if (state_->exposer == nullptr) return;
  // civetweb's listener thread waits for connections in 2 s slices and sees
  // the stop request only between them, so a plain stop takes up to 2 s of
  // a SIGTERM's exit. A connection ends the wait: knock until it stops.
  std::atomic<bool> stopped{false};
  std::thread knocker([&] {
    while (!stopped.load()) {
      Knock(state_->exposer_host, state_->exposer_port);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  state_->exposer.reset();
  stopped = true;
  knocker.join();
}

absl::StatusOr<int> Metrics::Serve(const std::string& address) {
  // prometheus-cpp reports a failed bind by throwing; keep that inside.
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(address);
    exposer->RegisterCollectable(state_->registry);
    exposer->RegisterCollectable(state_->dropped_log_lines);
    const std::vector<int> ports = exposer->GetListeningPorts();
    if (ports.empty()) {
      return absl::UnavailableError(
          absl::StrCat("metrics: cannot listen on ", address));
    }
    state_->exposer = std::move(exposer);
    state_->exposer_host = LocalHostFor(address);
    state_->exposer_port = ports.front();
    return ports.front();
  } catch (const std::exception& error) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ",
                                               address, ": ", error.what()));
  }
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
Metrics::InterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(*state_);
}

void Metrics::CountRefusal(absl::string_view limit) {
  state_->refused.Add({{"limit", std::string(limit)}}).Increment();
}

std::string Metrics::Text() const {
  std::vector<prometheus::MetricFamily> families = state_->registry->Collect();
  for (prometheus::MetricFamily& family :
       state_->dropped_log_lines->Collect()) {
    families.push_back(std::move(family));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace lossd::server
