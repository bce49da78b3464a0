// Admission control: the limits on what lossd takes on at once.
//
// Every Compute request is measured before any work is done (its input
// elements, its serialized size and the size of the response it asks for,
// all known from the request itself) and then admitted only if it fits the
// limits, else refused at once with RESOURCE_EXHAUSTED naming the limit and
// its value. Nothing queues: a call is served now or refused now, so load
// past the limits costs the server almost nothing and memory stays bounded.
//
// The counts are plain atomics, independent of the gRPC API the handlers
// use (sync or callback).

#ifndef LOSSD_SERVER_ADMISSION_H_
#define LOSSD_SERVER_ADMISSION_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "lossd/v1/loss_service.pb.h"

namespace lossd::server {

struct Limits {
  // Per request: input elements, serialized request and response bytes.
  int64_t max_elements = int64_t{1} << 25;
  int64_t max_request_bytes = int64_t{64} << 20;
  int64_t max_response_bytes = int64_t{128} << 20;
  // All requests being served: how many, and their request plus response
  // bytes together.
  int64_t max_concurrent_requests = 64;
  int64_t max_in_flight_bytes = int64_t{1} << 30;
};

// What serving one request holds, known before it is computed.
struct RequestCost {
  int64_t elements = 0;        // Of the input, as sent.
  int64_t request_bytes = 0;   // Serialized.
  int64_t response_bytes = 0;  // The outputs it asks for, as encoded.
  int64_t bytes() const { return request_bytes + response_bytes; }
};

// The cost of `request`, without decoding it. Malformed requests (unknown
// loss or dtype, a shape that does not match the data) are costed low, so
// that validation, not admission, reports them.
RequestCost CostOf(const v1::ComputeRequest& request);

// The flag name of the limit a refusal from Admission::Admit names
// ("max_elements"), or "unknown".
absl::string_view RefusedLimit(const absl::Status& refusal);

class Admission;

// An admitted request's hold on the limits; gives it back when destroyed
// (or on Release). Movable, not copyable.
class AdmissionTicket {
 public:
  AdmissionTicket() = default;
  AdmissionTicket(AdmissionTicket&& other) noexcept {
    *this = std::move(other);
  }
  AdmissionTicket& operator=(AdmissionTicket&& other) noexcept;
  ~AdmissionTicket() { Release(); }

  // The computation is done: the request stops counting against
  // max_concurrent_requests, while its bytes stay held until Release (the
  // response is still to be sent). Called before the answer goes out, so a
  // client that sends its next call on receiving it never finds its own
  // previous call still counted.
  void DoneComputing();
  // Gives back whatever is still held.
  void Release();

 private:
  friend class Admission;
  AdmissionTicket(Admission* admission, int64_t bytes)
      : admission_(admission), bytes_(bytes), computing_(true) {}

  Admission* admission_ = nullptr;
  int64_t bytes_ = 0;
  bool computing_ = false;
};

class Admission {
 public:
  explicit Admission(const Limits& limits) : limits_(limits) {}
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  const Limits& limits() const { return limits_; }

  // Admits a request of `cost` if it fits every limit, filling `ticket`;
  // else ResourceExhausted naming the limit (as its flag) and the values.
  absl::Status Admit(const RequestCost& cost, AdmissionTicket* ticket);

  // Requests and bytes being served now.
  int64_t requests_in_flight() const {
    return requests_.load(std::memory_order_relaxed);
  }
  int64_t bytes_in_flight() const {
    return bytes_.load(std::memory_order_relaxed);
  }

 private:
  friend class AdmissionTicket;
  void ReturnRequest() { requests_.fetch_sub(1, std::memory_order_relaxed); }
  void ReturnBytes(int64_t bytes) {
    bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  }

  const Limits limits_;
  std::atomic<int64_t> requests_{0};
  std::atomic<int64_t> bytes_{0};
};

}  // namespace lossd::server

#endif  // LOSSD_SERVER_ADMISSION_H_
