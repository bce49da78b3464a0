// Writes a seed corpus of valid requests (one file per request) for the
// fuzzer, so that it starts from the interesting parts of the contract.

#include <fstream>
#include <string>
#include <vector>

#include "lossd/v1/loss_service.pb.h"

namespace {

lossd::v1::Tensor Floats(std::vector<int64_t> shape,
                         std::vector<float> values) {
  lossd::v1::Tensor tensor;
  tensor.set_dtype(lossd::v1::DTYPE_FLOAT32);
  tensor.mutable_shape()->Assign(shape.begin(), shape.end());
  tensor.set_raw(std::string(reinterpret_cast<const char*>(values.data()),
                             values.size() * sizeof(float)));
  return tensor;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string directory = argv[1];
  std::vector<lossd::v1::ComputeRequest> seeds;
  for (const char* loss : {"cross_entropy", "binary_cross_entropy", "mse",
                           "classification_error"}) {
    lossd::v1::ComputeRequest dense;
    dense.set_loss(loss);
    *dense.mutable_input() = Floats({2, 3}, {4, 2, 1, 0, 5, 1});
    *dense.mutable_target() = Floats({2, 3}, {1, 0, 0, 0, .8f, .2f});
    dense.set_reduction(lossd::v1::REDUCTION_NONE);
    seeds.push_back(dense);
    lossd::v1::ComputeRequest indices = dense;
    indices.clear_target();
    indices.mutable_target()->add_shape(2);
    indices.mutable_target()->add_int64_values(0);
    indices.mutable_target()->add_int64_values(-100);
    indices.set_reduction(lossd::v1::REDUCTION_MEAN);
    seeds.push_back(indices);
  }
  lossd::v1::ComputeRequest options = seeds[1];
  options.mutable_cross_entropy()->set_label_smoothing(0.1);
  *options.mutable_cross_entropy()->mutable_class_weight() =
      Floats({3}, {1, 2, 0.5f});
  options.set_class_axis(-1);
  options.set_grad_dtype(lossd::v1::DTYPE_BFLOAT16);
  seeds.push_back(options);
  lossd::v1::ComputeRequest axis = seeds[0];
  *axis.mutable_input() = Floats({1, 3, 2}, {1, 2, 3, 4, 5, 6});
  *axis.mutable_target() = Floats({1, 3, 2}, {1, 0, 0, 1, 0, 0});
  axis.set_class_axis(1);
  seeds.push_back(axis);
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream(directory + "/seed" + std::to_string(i), std::ios::binary)
        << seeds[i].SerializeAsString();
  }
  return 0;
}
