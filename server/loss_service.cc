#include "loss_service.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <new>
#include <random>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "conversion.h"
#include "metrics.h"
#include "request_log.h"

namespace lossd::server {
namespace {

using Clock = std::chrono::steady_clock;

// A fresh random-looking id: a counter through the SplitMix64 mixer, from a
// random start. Not a per-thread generator: seeding one on each new thread
// cost more than a small request's computation.
uint64_t NextRandomId() {
  static const uint64_t seed = std::random_device{}() * 0x9e3779b97f4a7c15ull;
  static std::atomic<uint64_t> counter{0};
  uint64_t z = seed + 0x9e3779b97f4a7c15ull *
                          counter.fetch_add(1, std::memory_order_relaxed);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The caller's request id: the request field, else the x-request-id
// metadata, else a fresh random one.
std::string RequestId(const grpc::ServerContextBase& context,
                      const v1::ComputeRequest& request) {
  if (!request.request_id().empty()) return request.request_id();
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("x-request-id"); it != metadata.end()) {
    return std::string(it->second.data(), it->second.size());
  }
  return absl::StrFormat("%016x", NextRandomId());
}

std::string ShapeText(const v1::Tensor& tensor) {
  return absl::StrCat("[", absl::StrJoin(tensor.shape(), ","), "]");
}

// The call's deadline on the steady clock (compared without a system call
// on the fast path), or the clock's maximum when there is none.
Clock::time_point SteadyDeadline(const grpc::ServerContextBase& context) {
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return Clock::time_point::max();
  }
  const auto left = deadline - std::chrono::system_clock::now();
  if (left > std::chrono::hours(24 * 365)) return Clock::time_point::max();
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(left);
}

// The library's interrupt hook for one call: the deadline, and the call's
// cancellation. `cancelled` (callback API: set by OnCancel) is an atomic
// load; without it (sync API) ServerContext::IsCancelled() is asked, which
// plucks the call's completion queue, so only one thread at a time asks.
std::function<absl::Status()> Interrupt(grpc::ServerContextBase* context,
                                        const std::atomic<bool>* cancelled) {
  const Clock::time_point deadline = SteadyDeadline(*context);
  auto cancellation = std::make_shared<std::mutex>();
  return [context, cancelled, deadline, cancellation]() -> absl::Status {
    if (deadline != Clock::time_point::max() && Clock::now() >= deadline) {
      return absl::DeadlineExceededError(
          "the deadline passed during the computation");
    }
    bool is_cancelled = false;
    if (cancelled != nullptr) {
      is_cancelled = cancelled->load(std::memory_order_relaxed);
    } else if (std::unique_lock<std::mutex> lock(*cancellation,
                                                 std::try_to_lock);
               lock.owns_lock()) {
      is_cancelled = context->IsCancelled();
    }
    if (is_cancelled) {
      return absl::CancelledError(
          "the call was cancelled during the "
          "computation");
    }
    return absl::OkStatus();
  };
}

// A request line's level, as go-grpc-middleware's logging defaults (which
// log pipelines expect): the caller's own mistakes and successes at info,
// refusals and timeouts at warn, the server's faults at error.
LogLevel LevelOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::UNAUTHENTICATED:
      return LogLevel::kInfo;
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::DATA_LOSS:
      return LogLevel::kError;
    default:
      return LogLevel::kWarning;
  }
}

void LogRequest(absl::string_view method,
                const grpc::ServerContextBase& context,
                const v1::ComputeRequest& request,
                const std::string& request_id, const grpc::Status& status,
                Clock::time_point start) {
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  LogEvent(LevelOf(status.error_code()), "request",
           {{"method", std::string(method)},
            {"loss", request.loss()},
            {"shape", ShapeText(request.input())},
            {"code", std::to_string(status.error_code())},
            {"seconds", absl::StrFormat("%.6f", seconds)},
            {"request_id", request_id},
            {"peer", context.peer()},
            {"error", status.error_message()}});
}

// What a call that arrives after SIGTERM gets.
grpc::Status Draining() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "lossd is shutting down; retry on another replica");
}

// The reactor of one Compute call. It owns the call's admission ticket:
// the request's slot is given back when it is answered, its bytes in
// OnDone, once the response has been sent (or the call abandoned).
class ComputeReactor final : public grpc::ServerUnaryReactor {
 public:
  // Counts itself in `calls_in_flight` until done.
  explicit ComputeReactor(std::atomic<int64_t>* calls_in_flight)
      : calls_in_flight_(calls_in_flight) {
    calls_in_flight_->fetch_add(1, std::memory_order_relaxed);
  }
  void OnCancel() override { cancelled_.store(true); }
  void OnDone() override {
    calls_in_flight_->fetch_sub(1, std::memory_order_relaxed);
    delete this;
  }

  const std::atomic<bool>* cancelled() const { return &cancelled_; }
  AdmissionTicket* ticket() { return &ticket_; }

 private:
  std::atomic<int64_t>* const calls_in_flight_;
  std::atomic<bool> cancelled_{false};
  AdmissionTicket ticket_;
};

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

grpc::Status LossServiceImpl::Admit(grpc::ServerContextBase* context,
                                    const v1::ComputeRequest& request,
                                    RequestCost* cost,
                                    AdmissionTicket* ticket) {
  if (grpc::Status status = authenticator_.Check(*context); !status.ok()) {
    return status;
  }
  *cost = CostOf(request);
  absl::Status admitted = admission_.Admit(*cost, ticket);
  if (!admitted.ok() && metrics_ != nullptr) {
    metrics_->CountRefusal(RefusedLimit(admitted));
  }
  return ToGrpcStatus(admitted);
}

grpc::Status LossServiceImpl::Run(grpc::ServerContextBase* context,
                                  const v1::ComputeRequest& request,
                                  v1::ComputeResponse* response,
                                  const RequestCost& cost,
                                  const std::atomic<bool>* cancelled) {
  // The hook costs a clock read per block of rows; only requests that are
  // split into blocks (or that the library checks once) are worth it.
  std::function<absl::Status()> interrupt;
  if (cost.elements >= kInterruptElements) {
    interrupt = Interrupt(context, cancelled);
  }
  // The request may give its input bytes to the response (computed over in
  // place). Both callers own a non-const request that nothing reads the
  // input data of afterwards: gRPC's handlers get a const pointer to its own
  // message, dropped after the call, and ComputeStream reads the next
  // message into its local one.
  // Admission bounds what a request can allocate; should memory still run
  // out, this call fails and the server, with every other call, goes on.
  try {
    return ToGrpcStatus(
        ComputeFromProtoInPlace(const_cast<v1::ComputeRequest*>(&request),
                                response, std::move(interrupt)));
  } catch (const std::bad_alloc&) {
    response->Clear();
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "the server ran out of memory for this request");
  }
}

grpc::ServerUnaryReactor* LossServiceImpl::Compute(
    grpc::CallbackServerContext* context, const v1::ComputeRequest* request,
    v1::ComputeResponse* response) {
  const Clock::time_point start = Clock::now();
  auto* reactor = new ComputeReactor(&calls_in_flight_);
  RequestCost cost;
  grpc::Status status =
      draining_.load(std::memory_order_relaxed)
          ? Draining()
          : Admit(context, *request, &cost, reactor->ticket());
  auto finish = [this, context, request, response, reactor,
                 start](grpc::Status status) {
    const std::string request_id = RequestId(*context, *request);
    response->set_request_id(request_id);
    LogRequest("Compute", *context, *request, request_id, status, start);
    reactor->ticket()->DoneComputing();
    reactor->Finish(status);
  };
  if (!status.ok()) {
    finish(status);
  } else if (cost.request_bytes < kPoolRequestBytes) {
    finish(Run(context, *request, response, cost, reactor->cancelled()));
  } else {
    // Large: off gRPC's thread. The call (context, request, response,
    // reactor) lives until Finish is called and OnDone has run.
    pool_.Submit([this, context, request, response, reactor, cost, finish] {
      grpc::Status status;
      if (reactor->cancelled()->load()) {
        status = grpc::Status(grpc::StatusCode::CANCELLED,
                              "cancelled before it was computed");
      } else {
        status = Run(context, *request, response, cost, reactor->cancelled());
      }
      finish(status);
    });
  }
  return reactor;
}

grpc::Status LossServiceImpl::ComputeStream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::ComputeResponse, v1::ComputeRequest>* stream) {
  if (draining_.load(std::memory_order_relaxed)) return Draining();
  calls_in_flight_.fetch_add(1, std::memory_order_relaxed);
  absl::Cleanup done = [this] {
    calls_in_flight_.fetch_sub(1, std::memory_order_relaxed);
  };
  v1::ComputeRequest request;
  v1::ComputeResponse response;
  while (stream->Read(&request)) {
    const Clock::time_point start = Clock::now();
    response.Clear();
    RequestCost cost;
    AdmissionTicket ticket;
    grpc::Status status = Admit(context, request, &cost, &ticket);
    if (status.ok()) {
      status = Run(context, request, &response, cost, /*cancelled=*/nullptr);
    }
    const std::string request_id = RequestId(*context, request);
    response.set_request_id(request_id);
    LogRequest("ComputeStream", *context, request, request_id, status, start);
    if (!status.ok()) return status;
    if (!stream->Write(response)) {
      return grpc::Status(grpc::StatusCode::CANCELLED,
                          "the client closed the stream");
    }
  }
  return grpc::Status::OK;
}

grpc::Status LossServiceImpl::ListLosses(grpc::ServerContext* context,
                                         const v1::ListLossesRequest* request,
                                         v1::ListLossesResponse* response) {
  if (grpc::Status status = authenticator_.Check(*context); !status.ok()) {
    return status;
  }
  DescribeLosses(response);
  return grpc::Status::OK;
}

}  // namespace lossd::server
