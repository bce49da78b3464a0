// 16-bit floats to float32, for kernel.h's Float16ToFloat.

#include <cstdint>

#include "Eigen/Core"
#include "kernel.h"
#include "vector_kernels.h"

namespace lossd::internal {

void Float16ToFloat(const uint16_t* in, int64_t count, Float16Format format,
                    float* out) {
  const bool bfloat16 = format == Float16Format::kBFloat16;
  if (const VectorKernels* kernels = SelectVectorKernels()) {
    kernels->float16_to_float(in, count, bfloat16, out, nullptr);
    return;
  }
  for (int64_t i = 0; i < count; ++i) {
    out[i] =
        bfloat16
            ? static_cast<float>(
                  Eigen::numext::bit_cast<Eigen::bfloat16>(in[i]))
            : static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(in[i]));
  }
}

}  // namespace lossd::internal
