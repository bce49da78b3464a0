// libFuzzer target: arbitrary bytes as a ComputeRequest through the whole
// decode -> validate -> compute path (fuzz_entry.h, also used to replay
// tests/fuzz/regressions in every build). Any crash, sanitizer report,
// improper status or inconsistent response found here is a bug a client
// could trigger.

#include <cstddef>
#include <cstdint>

#include "fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)lossd::fuzz::RunComputeRequest(data, size);
  return 0;
}
