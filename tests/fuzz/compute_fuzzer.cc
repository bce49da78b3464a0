// libFuzzer target: arbitrary bytes as a ComputeRequest through the whole
// decode -> validate -> compute path. Any crash, sanitizer report or
// non-finite handling bug found here is a bug a client could trigger.

#include <cstddef>
#include <cstdint>

#include "conversion.h"
#include "google/protobuf/stubs/logging.h"
#include "lossd/v1/loss_service.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*,
                                       int, const std::string&) {});
    return true;
  }();
  (void)quiet;
  lossd::v1::ComputeRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  // Bound the work per input the way --max_request_bytes bounds a server.
  if (request.ByteSizeLong() > (1 << 20)) return 0;
  lossd::v1::ComputeResponse response;
  (void)lossd::server::ComputeFromProto(request, &response);
  return 0;
}
