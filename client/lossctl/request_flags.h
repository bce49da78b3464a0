// Flags that describe a request, shared by `compute` and `bench`: the loss,
// its options, reduction, input kind, class axis and dtypes.

#ifndef LOSSCTL_REQUEST_FLAGS_H_
#define LOSSCTL_REQUEST_FLAGS_H_

#include "absl/status/status.h"
#include "request_builder.h"

namespace lossctl {

// Overrides the members of `spec` whose flags were given (a flag left at its
// empty default changes nothing). Errors name the flag.
absl::Status ApplyRequestFlags(ComputeSpec* spec);

}  // namespace lossctl

#endif  // LOSSCTL_REQUEST_FLAGS_H_
