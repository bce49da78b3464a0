// Numerically stable scalar helpers shared by the kernels. Internal.

#ifndef LOSSD_SRC_NUMERICS_H_
#define LOSSD_SRC_NUMERICS_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
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

// log(sum_c exp(x_c)) of a row with a finite maximum, kept in two parts so
// that x_c - lse loses nothing when one class dominates: lse = max +
// log_sum, log_sum = log1p(rest), rest the sum of exp(x_c - max) over every
// class but the first maximal one. (Adding the 1 first and taking log would
// round away rest below 1e-16 and then x_y - lse would cancel.)
struct LogSumExp {
  double max = 0;
  int64_t argmax = 0;
  double rest = 0;
  double log_sum = 0;
  double value() const { return max + log_sum; }
  // log softmax(x)_c.
  double LogProbability(double x) const { return (x - max) - log_sum; }
  // softmax(x)_c given e = exp(x_c - max).
  double Probability(double e) const { return e / (1 + rest); }
  // 1 - softmax(x)_c without cancellation for the dominant class.
  double OneMinusProbability(int64_t c, double e) const {
    return c == argmax ? rest / (1 + rest) : 1 - e / (1 + rest);
  }
};

// Computes a row's LogSumExp from `n` values read by `x(c)`; writes exp(x_c -
// max) to `e[c]` when `e` is not null. The row must have a finite maximum.
template <typename Read>
LogSumExp RowLogSumExp(int64_t n, Read&& x, double* e) {
  LogSumExp result;
  result.max = -kInfinity;
  for (int64_t c = 0; c < n; ++c) {
    if (x(c) > result.max) {
      result.max = x(c);
      result.argmax = c;
    }
  }
  for (int64_t c = 0; c < n; ++c) {
    const double v = std::exp(x(c) - result.max);
    if (e != nullptr) e[c] = v;
    if (c != result.argmax) result.rest += v;
  }
  result.log_sum = std::log1p(result.rest);
  return result;
}

}  // namespace lossd::internal

#endif  // LOSSD_SRC_NUMERICS_H_
