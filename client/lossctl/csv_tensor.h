// Tensors as CSV, as numpy.savetxt(path, array, delimiter=",") writes them
// (or pandas' to_csv(index=False, header=False): pandas' default column
// names 0, 1, ... would read as a row): one row per line, values separated
// by commas. A file of one column is a 1-D tensor ([rows]: class indices,
// per-example weights), any other a 2-D one ([rows, columns]).

#ifndef LOSSCTL_CSV_TENSOR_H_
#define LOSSCTL_CSV_TENSOR_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "host_tensor.h"
#include "json_tensor.h"

namespace lossctl {

// Reads CSV `text` into the undecided-dtype form JSON tensors use (integer
// leaves may be class indices or a one-hot target; the request decides).
// A first line without any number is a header and is skipped, as are
// blank lines and lines starting with "#" (numpy.savetxt's header); "nan",
// "inf" and "-inf" are numbers. Errors name `field`, the line and the column.
absl::StatusOr<JsonTensor> ParseCsvTensor(absl::string_view text,
                                          absl::string_view field);

// `tensor` as CSV: a 2-D tensor one row per line, a 1-D tensor one value
// per line (so that ParseCsvTensor reads back the same shape); float32 and
// 16-bit values in their shortest round-trip form, as TensorToJson.
// InvalidArgument for other ranks.
absl::StatusOr<std::string> TensorToCsv(const HostTensor& tensor);

}  // namespace lossctl

#endif  // LOSSCTL_CSV_TENSOR_H_
