// Numerically stable scalar helpers shared by the kernels. Internal.

#ifndef LOSSD_SRC_NUMERICS_H_
#define LOSSD_SRC_NUMERICS_H_

#include <algorithm>
#include <cmath>
#include <limits>

namespace lossd::internal {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// log(1 + exp(x)) without overflow; exact limits at +-inf.
inline double Softplus(double x) {
  if (x == kInfinity) return kInfinity;
  return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x)));
}

// log(sigmoid(x)) = -softplus(-x).
inline double LogSigmoid(double x) { return -Softplus(-x); }

inline double Sigmoid(double x) {
  if (x >= 0) return 1 / (1 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1 + e);
}

// log(exp(a) + exp(b)), with -inf terms contributing nothing.
inline double LogAddExp(double a, double b) {
  if (a == -kInfinity) return b;
  if (b == -kInfinity) return a;
  const double m = std::max(a, b);
  return m + std::log1p(std::exp(-std::abs(a - b)));
}

}  // namespace lossd::internal

#endif  // LOSSD_SRC_NUMERICS_H_
