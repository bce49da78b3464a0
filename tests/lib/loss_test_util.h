// Helpers for the library's unit tests: building requests from nested
// initializer lists, running them, and finite-difference gradients.

#ifndef LOSSD_TESTS_LIB_LOSS_TEST_UTIL_H_
#define LOSSD_TESTS_LIB_LOSS_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "lossd/compute.h"
#include "lossd/registry.h"

namespace lossd::testing {

// A row-major tensor with its shape, owning its values.
template <typename T>
struct Tensor {
  std::vector<T> values;
  std::vector<int64_t> shape;
  TensorView<T> view() const { return {values, shape}; }
};

template <typename T>
Tensor<T> Matrix(std::initializer_list<std::initializer_list<T>> rows) {
  Tensor<T> tensor;
  for (const auto& row : rows) {
    tensor.values.insert(tensor.values.end(), row.begin(), row.end());
  }
  const int64_t cols = rows.size() == 0 ? 0 : rows.begin()->size();
  tensor.shape = {static_cast<int64_t>(rows.size()), cols};
  return tensor;
}

template <typename T>
Tensor<T> Vector(std::initializer_list<T> values) {
  return {std::vector<T>(values), {static_cast<int64_t>(values.size())}};
}

// A request for `loss` on `input` with a dense target of its shape.
inline LossRequest<double> DenseTargetRequest(
    absl::string_view loss, const Tensor<double>& input,
    const Tensor<double>& target, Reduction reduction,
    InputKind kind = InputKind::kLogits) {
  LossRequest<double> request;
  request.loss = FindLoss(loss);
  request.input = input.view();
  request.dense_target = target.view();
  request.reduction = reduction;
  request.input_kind = kind;
  return request;
}

// Everything Compute returns, with owned outputs.
template <typename T>
struct Outcome {
  LossResult result;
  std::vector<T> per_example;
  std::vector<T> grad;
};

// Runs `request` asking for per-example losses and (when the loss has one)
// the gradient. Fails the test on an error status.
template <typename T>
Outcome<T> RunLoss(const LossRequest<T>& request) {
  absl::StatusOr<ProblemShape> shape =
      ResolveShape(request.input.shape, request.class_axis);
  EXPECT_TRUE(shape.ok()) << shape.status();
  Outcome<T> outcome;
  outcome.per_example.resize(PerExampleSize(*request.loss, *shape));
  if (request.loss->has_gradient) outcome.grad.resize(shape->elements());
  absl::StatusOr<LossResult> result =
      Compute<T>(request, absl::MakeSpan(outcome.per_example),
                 absl::MakeSpan(outcome.grad));
  EXPECT_TRUE(result.ok()) << result.status();
  if (result.ok()) outcome.result = *result;
  return outcome;
}

// The status of running `request`, for error tests.
template <typename T>
absl::Status StatusOf(const LossRequest<T>& request) {
  std::vector<T> per_example(1 << 12), grad(1 << 12);
  absl::StatusOr<ProblemShape> shape =
      ResolveShape(request.input.shape, request.class_axis);
  if (!shape.ok()) return shape.status();
  per_example.resize(PerExampleSize(*request.loss, *shape));
  grad.resize(request.loss->has_gradient ? shape->elements() : 0);
  return Compute<T>(request, absl::MakeSpan(per_example), absl::MakeSpan(grad))
      .status();
}

// Checks the gradient of the reduced loss of `request` (float64) against
// central differences of the loss with respect to every input element.
inline void ExpectGradientMatchesFiniteDifferences(LossRequest<double> request,
                                                   double tolerance = 1e-6) {
  const Outcome<double> analytic = RunLoss(request);
  std::vector<double> input(request.input.data.begin(),
                            request.input.data.end());
  const std::vector<int64_t> shape = request.input.shape;
  auto loss_at = [&](const std::vector<double>& x) {
    LossRequest<double> probe = request;
    probe.input = {x, shape};
    std::vector<double> none;
    absl::StatusOr<LossResult> result =
        Compute<double>(probe, absl::MakeSpan(none), absl::MakeSpan(none));
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->loss : 0.0;
  };
  for (size_t i = 0; i < input.size(); ++i) {
    const double h = 1e-6 * std::max(1.0, std::abs(input[i]));
    std::vector<double> plus = input, minus = input;
    plus[i] += h;
    minus[i] -= h;
    const double numeric = (loss_at(plus) - loss_at(minus)) / (2 * h);
    EXPECT_NEAR(analytic.grad[i], numeric,
                tolerance * std::max(1.0, std::abs(numeric)))
        << "d loss / d input[" << i << "] of " << request.loss->name;
  }
}

}  // namespace lossd::testing

#endif  // LOSSD_TESTS_LIB_LOSS_TEST_UTIL_H_
