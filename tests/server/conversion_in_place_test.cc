// ComputeFromProtoInPlace: the same response as ComputeFromProto, with the
// request's raw input bytes moved into the gradient where they can be.

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "conversion.h"
#include "gtest/gtest.h"

namespace lossd::server {
namespace {

template <typename T>
v1::Tensor Raw(v1::DType dtype, std::vector<int64_t> shape,
               const std::vector<T>& values) {
  v1::Tensor tensor;
  tensor.set_dtype(dtype);
  tensor.mutable_shape()->Assign(shape.begin(), shape.end());
  tensor.set_raw(values.data(), values.size() * sizeof(T));
  return tensor;
}

struct Case {
  std::string name;
  v1::ComputeRequest request;
  bool moves;  // Whether the input bytes should go into the response.
};

std::vector<Case> Cases() {
  std::mt19937 random(3);
  std::normal_distribution<float> normal(0, 2);
  auto floats = [&](int n) {
    std::vector<float> v(n);
    for (float& x : v) x = normal(random);
    return v;
  };
  std::vector<Case> cases;
  auto add = [&](std::string name, v1::ComputeRequest request, bool moves) {
    cases.push_back({std::move(name), std::move(request), moves});
  };
  v1::ComputeRequest hard;
  hard.set_loss("cross_entropy");
  *hard.mutable_input() = Raw(v1::DTYPE_FLOAT32, {40, 7}, floats(280));
  std::vector<int64_t> labels(40);
  for (int64_t& y : labels) y = random() % 7;
  *hard.mutable_target() = Raw(v1::DTYPE_INT64, {40}, labels);
  add("cross_entropy float32", hard, true);

  v1::ComputeRequest smoothed = hard;
  smoothed.mutable_cross_entropy()->set_label_smoothing(0.1);
  smoothed.mutable_outputs()->set_per_example(true);
  smoothed.mutable_outputs()->set_grad_input(true);
  add("cross_entropy float32 smoothed, per example", smoothed, true);

  v1::ComputeRequest to_bfloat16 = hard;
  to_bfloat16.set_grad_dtype(v1::DTYPE_BFLOAT16);
  add("cross_entropy, bfloat16 gradient", to_bfloat16, false);

  v1::ComputeRequest no_gradient = hard;
  no_gradient.mutable_outputs()->set_grad_input(false);
  add("cross_entropy, no gradient", no_gradient, false);

  v1::ComputeRequest axis = hard;
  *axis.mutable_input() = Raw(v1::DTYPE_FLOAT32, {4, 7, 10}, floats(280));
  *axis.mutable_target() = Raw(v1::DTYPE_INT64, {4, 10}, labels);
  axis.set_class_axis(1);
  add("cross_entropy, class axis 1", axis, true);

  v1::ComputeRequest typed = hard;
  typed.mutable_input()->clear_raw();
  for (float x : floats(280)) typed.mutable_input()->add_float_values(x);
  add("cross_entropy, typed values", typed, false);

  v1::ComputeRequest binary;
  binary.set_loss("binary_cross_entropy");
  *binary.mutable_input() = Raw(v1::DTYPE_FLOAT32, {30, 5}, floats(150));
  std::vector<float> bits(150);
  for (float& t : bits) t = static_cast<float>(random() % 2);
  *binary.mutable_target() = Raw(v1::DTYPE_FLOAT32, {30, 5}, bits);
  add("binary_cross_entropy float32", binary, true);

  v1::ComputeRequest mse;
  mse.set_loss("mse");
  std::vector<double> x(60), y(60);
  for (double& v : x) v = normal(random);
  for (double& v : y) v = normal(random);
  *mse.mutable_input() = Raw(v1::DTYPE_FLOAT64, {12, 5}, x);
  *mse.mutable_target() = Raw(v1::DTYPE_FLOAT64, {12, 5}, y);
  add("mse float64 (a scalar kernel, on a copy)", mse, true);

  v1::ComputeRequest invalid = hard;
  labels[3] = 99;
  *invalid.mutable_target() = Raw(v1::DTYPE_INT64, {40}, labels);
  add("an invalid label", invalid, true);
  return cases;
}

TEST(ComputeFromProtoInPlace, AnswersAsComputeFromProto) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    v1::ComputeResponse expected;
    const absl::Status expected_status = ComputeFromProto(c.request, &expected);
    v1::ComputeRequest movable = c.request;
    v1::ComputeResponse actual;
    const absl::Status status = ComputeFromProtoInPlace(&movable, &actual);
    EXPECT_EQ(status, expected_status);
    EXPECT_EQ(actual.SerializeAsString(), expected.SerializeAsString());
    if (expected_status.ok() && c.moves) {
      EXPECT_TRUE(movable.input().raw().empty()) << "the input bytes stayed";
    } else if (!c.moves) {
      EXPECT_EQ(movable.input().SerializeAsString(),
                c.request.input().SerializeAsString())
          << "the input bytes moved";
    }
    // Everything but the input's data stays as it was.
    v1::ComputeRequest rest = movable, original = c.request;
    rest.mutable_input()->clear_raw();
    original.mutable_input()->clear_raw();
    EXPECT_EQ(rest.SerializeAsString(), original.SerializeAsString());
  }
}

}  // namespace
}  // namespace lossd::server
