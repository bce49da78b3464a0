// The one entry point of the fuzzer and of the replay of its regression
// inputs: bytes as a ComputeRequest through ComputeFromProto (decoding,
// validation and computation), as the server would run them.

#ifndef LOSSD_TESTS_FUZZ_FUZZ_ENTRY_H_
#define LOSSD_TESTS_FUZZ_FUZZ_ENTRY_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"

namespace lossd::fuzz {

// Requests larger than this are skipped, as --max_request_bytes would
// refuse them before decoding (a smaller bound than the server's 64 MiB
// keeps each execution fast).
inline constexpr size_t kMaxRequestBytes = size_t{1} << 20;

// Parses `data` as a ComputeRequest and computes it. nullopt when the bytes
// are not a ComputeRequest or are larger than kMaxRequestBytes (the server
// never gets that far with them); else ComputeFromProto's status, after
// checking what an OK response must hold (aborts if it does not).
std::optional<absl::Status> RunComputeRequest(const uint8_t* data, size_t size);

// Whether `status` is one a client may get for its request: OK or an error
// blaming the request (INVALID_ARGUMENT, NOT_FOUND for an unknown loss,
// RESOURCE_EXHAUSTED for a size limit) with a message. Anything else
// (INTERNAL, UNKNOWN, an empty message) is a bug in lossd.
bool IsProperStatus(const absl::Status& status);

}  // namespace lossd::fuzz

#endif  // LOSSD_TESTS_FUZZ_FUZZ_ENTRY_H_
