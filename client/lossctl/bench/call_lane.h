// Where a load generator sends its calls: a unary lane issues each call on
// its own (many may be in flight at once); a stream lane sends them in
// order on one ComputeStream and matches the in-order answers. Requests go
// out pre-serialized (grpc::ByteBuffer shares the bytes, no copy per call)
// and answers are not parsed unless verification asks, so the client spends
// as little CPU as possible on a machine it shares with the server.

#ifndef LOSSCTL_BENCH_CALL_LANE_H_
#define LOSSCTL_BENCH_CALL_LANE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/byte_buffer.h"

namespace lossctl::bench {

// The distinct requests of a run, each serialized once.
struct PreparedRequests {
  std::vector<grpc::ByteBuffer> buffers;
  std::vector<int64_t> sizes;  // Serialized bytes of each.
};

// One call as the generator tracks it.
struct Ticket {
  int64_t intended_nanos = 0;  // Latency is measured from here.
  int64_t sent_nanos = 0;
  int request_index = 0;
  bool measured = false;  // False during warm-up.
  int worker = 0;         // Closed loop: who sends the next call.
};

// Called once per submitted ticket, on a gRPC thread, with the answer's
// bytes on success (valid only during the call) or nullptr on failure, and
// the call's context (for the peer that answered).
using CompletionHandler = std::function<void(
    const Ticket& ticket, const grpc::Status& status,
    const grpc::ByteBuffer* response, const grpc::ClientContext& context)>;

class CallLane {
 public:
  virtual ~CallLane() = default;
  // Sends the ticket's request; the handler runs when it completes.
  // Thread-safe.
  virtual void Submit(const Ticket& ticket) = 0;
  // Call once every submitted ticket has completed: ends open streams
  // cleanly and waits for them. Further Submits are not allowed.
  virtual void Close() = 0;
};

// Unary Compute calls, each with `timeout` as its deadline. A non-empty
// `authorization` is sent as that metadata on every call.
std::unique_ptr<CallLane> MakeUnaryLane(std::shared_ptr<grpc::Channel> channel,
                                        const PreparedRequests* requests,
                                        absl::Duration timeout,
                                        std::string authorization,
                                        CompletionHandler handler);

// ComputeStream: one stream at a time, opened on first use. When the server
// ends a stream with an error, the tickets it had not answered complete
// with that status and the next Submit opens a new stream.
std::unique_ptr<CallLane> MakeStreamLane(std::shared_ptr<grpc::Channel> channel,
                                         const PreparedRequests* requests,
                                         std::string authorization,
                                         CompletionHandler handler);

}  // namespace lossctl::bench

#endif  // LOSSCTL_BENCH_CALL_LANE_H_
