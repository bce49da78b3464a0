// NumPy's .npy format (https://numpy.org/doc/stable/reference/generated/
// numpy.lib.format.html), for the dtypes lossd's wire carries natively:
// little-endian <f4 <f8 <i4 <i8, and |u1 |b1, in C order. Anything else
// (big-endian, Fortran order, object or structured arrays, other widths) is
// rejected with an error that says what was found and what is accepted.

#ifndef LOSSCTL_NPY_H_
#define LOSSCTL_NPY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "host_tensor.h"

namespace lossctl {

// Parses the bytes of a whole .npy file. Versions 1.0, 2.0 and 3.0 of the
// format are read; the data must be exactly as long as the shape says.
absl::StatusOr<HostTensor> DecodeNpy(absl::string_view file_bytes);

// The bytes of a version 1.0 .npy file (2.0 if the header needs it) holding
// `tensor`. bfloat16 has no numpy dtype: it is widened to <f4; float16 is
// written as <f2, which numpy reads (DecodeNpy does not accept it back).
std::string EncodeNpy(const HostTensor& tensor);

absl::StatusOr<HostTensor> ReadNpyFile(const std::string& path);
absl::Status WriteNpyFile(const std::string& path, const HostTensor& tensor);

}  // namespace lossctl

#endif  // LOSSCTL_NPY_H_
