#include "bench/verifier.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "conversion.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/support/proto_buffer_reader.h"

namespace lossctl::bench {
namespace {

using google::protobuf::internal::WireFormatLite;

bool Close(double actual, double expected, double tolerance) {
  if (std::isnan(expected)) return std::isnan(actual);
  return std::abs(actual - expected) <=
         tolerance * std::max(1.0, std::abs(expected));
}

}  // namespace

bool ReadLossAndStatistics(const grpc::ByteBuffer& response, double* loss,
                           lossd::v1::ReductionStatistics* statistics) {
  // ProtoBufferReader reads the buffer's slices in place.
  grpc::ByteBuffer copy(
      response);  // Shares the slices; Reader needs non-const.
  grpc::ProtoBufferReader reader(&copy);
  google::protobuf::io::CodedInputStream input(&reader);
  *loss = 0;
  statistics->Clear();
  while (true) {
    const uint32_t tag = input.ReadTag();
    if (tag == 0) return true;
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if (field == lossd::v1::ComputeResponse::kLossFieldNumber &&
        WireFormatLite::GetTagWireType(tag) ==
            WireFormatLite::WIRETYPE_FIXED64) {
      uint64_t bits;
      if (!input.ReadLittleEndian64(&bits)) return false;
      std::memcpy(loss, &bits, sizeof bits);
    } else if (field == lossd::v1::ComputeResponse::kStatisticsFieldNumber &&
               WireFormatLite::GetTagWireType(tag) ==
                   WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length;
      if (!input.ReadVarint32(&length)) return false;
      const auto limit = input.PushLimit(static_cast<int>(length));
      if (!statistics->MergeFromCodedStream(&input)) return false;
      input.PopLimit(limit);
    } else if (!WireFormatLite::SkipField(&input, tag)) {
      return false;
    }
  }
}

Verifier Verifier::Create(
    const std::vector<lossd::v1::ComputeRequest>& requests,
    double relative_tolerance) {
  Verifier verifier;
  verifier.relative_tolerance_ = relative_tolerance;
  for (const lossd::v1::ComputeRequest& request : requests) {
    lossd::v1::ComputeResponse response;
    Reference reference;
    reference.status = lossd::server::ComputeFromProto(request, &response);
    reference.loss = response.loss();
    reference.statistics = response.statistics();
    verifier.references_.push_back(std::move(reference));
  }
  return verifier;
}

bool Verifier::Check(int index, const grpc::ByteBuffer& response) const {
  const Reference& reference = references_[index];
  if (!reference.status.ok()) return false;
  double loss;
  lossd::v1::ReductionStatistics statistics;
  if (!ReadLossAndStatistics(response, &loss, &statistics)) return false;
  if (!std::isfinite(loss) && std::isfinite(reference.loss)) return false;
  const double tolerance = relative_tolerance_;
  const auto& expected = reference.statistics;
  return Close(loss, reference.loss, tolerance) &&
         Close(statistics.loss_sum(), expected.loss_sum(), tolerance) &&
         Close(statistics.denominator(), expected.denominator(), tolerance) &&
         statistics.valid_count() == expected.valid_count() &&
         Close(statistics.weight_sum(), expected.weight_sum(), tolerance);
}

Verifier::Verdict Verifier::Judge(int index, const grpc::Status& status,
                                  const grpc::ByteBuffer* response) const {
  const Reference& reference = references_[index];
  if (status.ok()) {
    return response != nullptr && Check(index, *response) ? Verdict::kCorrect
                                                          : Verdict::kWrong;
  }
  // absl::StatusCode and grpc::StatusCode share their numbers.
  return !reference.status.ok() && static_cast<int>(reference.status.code()) ==
                                       static_cast<int>(status.error_code())
             ? Verdict::kExpectedError
             : Verdict::kWrong;
}

std::string Verifier::Describe(int index) const {
  const Reference& reference = references_[index];
  if (!reference.status.ok()) {
    return absl::StrCat("the library refuses it (answers must be this error): ",
                        reference.status.ToString());
  }
  return absl::StrCat("reference loss ", reference.loss);
}

}  // namespace lossctl::bench
