// Prometheus metrics of the server, served over HTTP at /metrics.
//
// A gRPC server interceptor observes every call (LossService, health and
// reflection alike), so the handlers hold no metrics code. The metric names
// follow go-grpc-prometheus, which most gRPC dashboards expect:
//   grpc_server_started_total{grpc_service,grpc_method,grpc_type}
//   grpc_server_handled_total{grpc_service,grpc_method,grpc_type,grpc_code}
//   grpc_server_handling_seconds{grpc_service,grpc_method,grpc_type}
//   (histogram) grpc_server_msg_received_total / grpc_server_msg_sent_total
// plus lossd's own:
//   lossd_in_flight_requests{grpc_service,grpc_method}      (gauge)
//   lossd_loss_requests_total{loss}                          (ComputeRequests)
//   lossd_request_bytes_total / lossd_response_bytes_total{grpc_method}
//   lossd_request_size_bytes{grpc_method}                   (histogram)
//   lossd_refused_requests_total{limit}   (refused by admission limits)
//   lossd_log_lines_dropped_total         (the request log's backlog full)
//   lossd_build_info{version}                                (always 1)
// docs/OPERATIONS.md lists them with their meaning.

#ifndef LOSSD_SERVER_METRICS_H_
#define LOSSD_SERVER_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/server_interceptor.h"

namespace lossd::server {

class Metrics {
 public:
  // `dropped_log_lines`, if set, is read at each scrape and reported as
  // lossd_log_lines_dropped_total (the log keeps the count). Thread-safe.
  explicit Metrics(std::function<int64_t()> dropped_log_lines = nullptr);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Serves /metrics on `address` (host:port; port 0 picks a free port) until
  // this object is destroyed. Returns the bound port, or an error naming the
  // address when it cannot listen.
  absl::StatusOr<int> Serve(const std::string& address);

  // A factory for ServerBuilder::experimental().SetInterceptorCreators. The
  // interceptors it makes record into this object, which must outlive the
  // gRPC server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  InterceptorFactory();

  // Counts a request refused by admission for `limit` (the flag's name,
  // e.g. "max_concurrent_requests"). Thread-safe.
  void CountRefusal(absl::string_view limit);

  // The metrics in Prometheus's text exposition format (what /metrics
  // returns); for tests and debugging.
  std::string Text() const;

  struct State;  // Registry and metric families; defined in metrics.cc.

 private:
  std::unique_ptr<State> state_;
};

}  // namespace lossd::server

#endif  // LOSSD_SERVER_METRICS_H_
