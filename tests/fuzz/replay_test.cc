// Replays every committed regression input (tests/fuzz/regressions: inputs
// that once crashed lossd or the fuzzer, and one per class of hostile
// request) through the fuzzer's entry point, in the normal build: each must
// parse as a request and come back with a proper status (fuzz_entry.h),
// without a crash.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_entry.h"
#include "gtest/gtest.h"

namespace lossd::fuzz {
namespace {

std::vector<std::filesystem::path> RegressionInputs() {
  std::vector<std::filesystem::path> inputs;
  for (const auto& entry :
       std::filesystem::directory_iterator(LOSSD_FUZZ_REGRESSIONS_DIR)) {
    if (!entry.is_regular_file()) continue;
    if (entry.path().filename().string().starts_with("README")) continue;
    inputs.push_back(entry.path());
  }
  std::sort(inputs.begin(), inputs.end());
  return inputs;
}

TEST(FuzzRegressions, EveryInputGetsAProperStatus) {
  const std::vector<std::filesystem::path> inputs = RegressionInputs();
  ASSERT_FALSE(inputs.empty()) << "no inputs in " << LOSSD_FUZZ_REGRESSIONS_DIR;
  for (const std::filesystem::path& path : inputs) {
    SCOPED_TRACE(path.filename().string());
    std::ifstream file(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());
    const std::optional<absl::Status> status = RunComputeRequest(
        reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    // An input that no longer parses would test nothing.
    ASSERT_TRUE(status.has_value()) << "not a ComputeRequest";
    EXPECT_TRUE(IsProperStatus(*status)) << status->ToString();
  }
}

}  // namespace
}  // namespace lossd::fuzz
