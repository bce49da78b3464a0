// The lossd.v1.LossService implementation: adapts RPCs to the plain
// functions of conversion.h, admits each request against the limits of
// admission.h, logs one line per request, maps errors.
//
// Compute is served on gRPC's callback API: a small request is computed on
// the gRPC thread that received it and answered before that thread returns,
// with no hand-off to a worker thread (the sync API's hand-offs cost more
// than a small request's computation); a large one goes to a ComputePool so
// that it does not hold up gRPC's threads. ComputeStream and ListLosses stay
// on the sync API.

#ifndef LOSSD_SERVER_LOSS_SERVICE_H_
#define LOSSD_SERVER_LOSS_SERVICE_H_

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "admission.h"
#include "auth.h"
#include "compute_pool.h"
#include "grpcpp/grpcpp.h"
#include "lossd/v1/loss_service.grpc.pb.h"

namespace lossd::server {

class Metrics;

// absl and gRPC share status code numbers; this keeps the message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Requests of at least this many serialized bytes are computed on the
// ComputePool, smaller ones on the gRPC thread that received them.
inline constexpr int64_t kPoolRequestBytes = 256 << 10;

// Requests of at least this many input elements are computed with an
// interrupt hook (deadline, cancellation), polled between blocks of rows.
inline constexpr int64_t kInterruptElements = int64_t{1} << 20;

// Thread-safe; holds no per-request state.
class LossServiceImpl final
    : public v1::LossService::WithCallbackMethod_Compute<
          v1::LossService::Service> {
 public:
  // Every call must pass `authenticator` (by default, one admitting all) and
  // `admission`; `pool` computes large requests; refusals are counted in
  // `metrics` if it is not null. All must outlive the service.
  LossServiceImpl(TokenAuthenticator authenticator, Admission* admission,
                  ComputePool* pool, Metrics* metrics = nullptr)
      : authenticator_(std::move(authenticator)),
        admission_(*admission),
        pool_(*pool),
        metrics_(metrics) {}

  // From now on new calls (Compute, and ComputeStream at its start) are
  // refused with UNAVAILABLE; calls already admitted, and the messages of
  // streams already open, are served as usual. Thread-safe.
  void StartDraining() { draining_.store(true, std::memory_order_relaxed); }

  // Compute calls not yet done (answer sent or call abandoned) and
  // ComputeStreams still open: what a drain waits for.
  int64_t calls_in_flight() const {
    return calls_in_flight_.load(std::memory_order_relaxed);
  }

  grpc::ServerUnaryReactor* Compute(grpc::CallbackServerContext* context,
                                    const v1::ComputeRequest* request,
                                    v1::ComputeResponse* response) override;
  grpc::Status ComputeStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::ComputeResponse, v1::ComputeRequest>* stream)
      override;
  grpc::Status ListLosses(grpc::ServerContext* context,
                          const v1::ListLossesRequest* request,
                          v1::ListLossesResponse* response) override;

 private:
  // Checks the caller and admits `request` (filling `cost` and `ticket`);
  // RESOURCE_EXHAUSTED naming the limit when it does not fit.
  grpc::Status Admit(grpc::ServerContextBase* context,
                     const v1::ComputeRequest& request, RequestCost* cost,
                     AdmissionTicket* ticket);
  // Computes an admitted request, stopping early at the call's deadline or
  // cancellation (`cancelled`, if not null, is set when the call is).
  grpc::Status Run(grpc::ServerContextBase* context,
                   const v1::ComputeRequest& request,
                   v1::ComputeResponse* response, const RequestCost& cost,
                   const std::atomic<bool>* cancelled);

  const TokenAuthenticator authenticator_;
  Admission& admission_;
  ComputePool& pool_;
  Metrics* const metrics_;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> calls_in_flight_{0};
};

}  // namespace lossd::server

#endif  // LOSSD_SERVER_LOSS_SERVICE_H_
