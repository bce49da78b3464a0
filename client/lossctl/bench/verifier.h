// Checks answers against a reference computed locally, once per distinct
// request, by the same library the server links (through the server's own
// wire-to-library conversion, so that no second copy of it exists).

#ifndef LOSSCTL_BENCH_VERIFIER_H_
#define LOSSCTL_BENCH_VERIFIER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/status.h"
#include "lossd/v1/loss_service.pb.h"

namespace lossctl::bench {

class Verifier {
 public:
  // Computes every request's reference. A request the library refuses is
  // not an error here: every answer to it will then fail verification.
  static Verifier Create(const std::vector<lossd::v1::ComputeRequest>& requests,
                         double relative_tolerance);

  // True when `response` (serialized ComputeResponse) has a finite loss
  // within the tolerance of request `index`'s reference, and the same
  // reduction statistics. Reads only the small fields, not the tensors.
  // Thread-safe.
  bool Check(int index, const grpc::ByteBuffer& response) const;

  // The verdict on one call's outcome: an answer is correct when Check
  // passes; an error is expected when the library refuses the request
  // with the same status code (a malformed request must be refused, and
  // with the right code). Anything else is wrong: a wrong answer, an
  // answer to a request the library refuses, or an error (any code) for a
  // request the library answers. Thread-safe.
  enum class Verdict { kCorrect, kExpectedError, kWrong };
  Verdict Judge(int index, const grpc::Status& status,
                const grpc::ByteBuffer* response) const;

  // "reference loss 6.9", or the library's error.
  std::string Describe(int index) const;

 private:
  struct Reference {
    absl::Status status;
    double loss = 0;
    lossd::v1::ReductionStatistics statistics;
  };
  std::vector<Reference> references_;
  double relative_tolerance_ = 0;
};

// The loss and statistics of a serialized ComputeResponse, without parsing
// (or copying) its tensors. False when the bytes do not parse.
bool ReadLossAndStatistics(const grpc::ByteBuffer& response, double* loss,
                           lossd::v1::ReductionStatistics* statistics);

}  // namespace lossctl::bench

#endif  // LOSSCTL_BENCH_VERIFIER_H_
