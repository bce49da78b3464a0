// Vectorised float32 row primitives for the softmax and sigmoid losses.
// Internal.
//
// One source (vector_kernels.inc) is compiled twice in vector_kernels.cc,
// for AVX-512 and for AVX2 + FMA, each inside its own namespace and target
// region so that no symbol is shared between the two; SelectVectorKernels()
// picks one at run time from what the CPU reports, so one portable binary
// uses the widest vectors the machine has. Without AVX2 it returns null and
// the losses keep their scalar kernels. LOSSD_VECTOR_KERNELS=avx2 or =none
// in the environment caps the choice (tests run every path that way).
//
// Numerics: exp and log are float32 polynomial approximations (Cephes, as
// Eigen's, a few ulp); every sum over a row is accumulated in float32 lanes
// over short chunks and the chunk sums in double, in a fixed order, so a
// result depends neither on timing nor on threads. The sums the gradient's
// precision depends on leave out the row's maximum, so that 1 - p of the
// dominant class and lse - x_max = log1p(rest) do not cancel.

#ifndef LOSSD_SRC_VECTOR_KERNELS_H_
#define LOSSD_SRC_VECTOR_KERNELS_H_

#include <cstdint>

namespace lossd::internal {

// The statistics of one row x of a softmax, with e_c = exp(x_c - max).
struct SoftmaxRow {
  bool finite = true;  // False if any x_c is NaN or infinite: nothing else
                       // is set, and the caller uses its scalar path.
  float max = 0;       // max_c x_c.
  int64_t top = 0;     // The first c with x_c == max.
  int64_t ties = 0;    // How many x_c equal max (at least 1).
  // sum_c e_c - 1 = (ties - 1) + sum_{x_c < max} e_c: sum_c e_c = 1 + rest,
  // lse = max + log1p(rest), 1 - p_top = rest / (1 + rest), all without
  // cancellation.
  double rest = 0;
  double log_sum = 0;  // log1p(rest) = log(sum_c e_c).
  // With class weights w (null: all ones), when asked for:
  double weight_gap = 0;  // sum_c w_c (max - x_c)
  // With a target t (the sums use the float32 products w_c t_c):
  double target_below = 0;   // sum_{x_c < max} w_c t_c
  double target_at_max = 0;  // sum_{x_c == max} w_c t_c
  double target_gap = 0;     // sum_c w_c t_c (max - x_c)
};

// The most rows of one softmax_small_rows call, the most classes it takes,
// and the floats of the tile it needs.
constexpr int64_t kSmallBlockRows = 64;
constexpr int64_t kMaxSmallClasses = 16;
constexpr int64_t kSmallTileFloats = kSmallBlockRows * kMaxSmallClasses;

// One row of binary cross-entropy from logits (binary_cross_entropy.cc):
// with y' = target_scale y + target_shift (label smoothing), w the class
// weight and q the pos_weight (null: ones), s the sample weight,
//   loss_c = s w_c [q_c y'_c softplus(-x_c) + (1 - y'_c) softplus(x_c)]
//   grad_c = grad_scale g_c s w_c [(q_c y'_c + 1 - y'_c) sigmoid(x_c)
//            - q_c y'_c]
// with g the upstream gradient (null: ones). `loss` and `grad` may be null.
struct BinaryRowArgs {
  const float* x = nullptr;
  const float* target = nullptr;
  int64_t classes = 0;
  const float* weight = nullptr;
  const float* pos_weight = nullptr;
  float target_scale = 1;
  float target_shift = 0;
  float sample_weight = 1;
  float grad_scale = 1;
  const float* grad_output = nullptr;
  float* loss = nullptr;
  float* grad = nullptr;
};

struct BinaryRowSums {
  bool finite = true;  // False if any x_c is NaN or infinite: the outputs
                       // are then to be recomputed by the scalar kernel.
  double loss_sum = 0;
};

struct VectorKernels {
  const char* name;  // "avx512" or "avx2".

  // Computes a row's statistics and writes e_c into `exp_out` (which may be
  // the row's gradient buffer). `weight` and `target` may be null;
  // weight_gap is computed only when `want_weight_gap`. `next_x` and
  // `next_exp_out`, if not null, are the row computed next and where its e
  // goes: they are prefetched meanwhile (the latter for writing), so that
  // the next row's passes do not wait on memory.
  SoftmaxRow (*softmax_row)(const float* x, int64_t classes, float* exp_out,
                            const float* weight, const float* target,
                            bool want_weight_gap, const float* next_x,
                            float* next_exp_out);

  // out_c = e_c * scale - w_c * (bias_target * t_c + bias), in place when
  // out == e. `weight` null means all ones; `target` null means t = 0.
  void (*finish_row)(const float* e, int64_t classes, float scale,
                     const float* weight, const float* target,
                     float bias_target, float bias, float* out);

  // Rows of at most `small_classes` (<= kMaxSmallClasses) classes are
  // vectorised across rows rather than along them, up to kSmallBlockRows
  // rows at a time: softmax_small_rows is softmax_row for `rows`
  // consecutive rows (`target` advances by `classes` per row), writing each
  // row's e into `tile` (row i at tile + i * small_classes; 64-byte
  // aligned, kSmallTileFloats) instead of the gradient, so that no load
  // waits on a masked store to a neighbouring row; finish_small_rows is
  // finish_row for those rows, from the tile into `out`, with one scale,
  // bias_target and bias per row.
  int64_t small_classes;
  void (*softmax_small_rows)(const float* x, int64_t rows, int64_t classes,
                             float* tile, const float* weight,
                             const float* target, bool want_weight_gap,
                             SoftmaxRow* out);
  void (*finish_small_rows)(const float* tile, int64_t rows, int64_t classes,
                            const float* scale, const float* weight,
                            const float* target, const float* bias_target,
                            const float* bias, float* out);

  BinaryRowSums (*binary_row)(const BinaryRowArgs& args);
};

// The kernels for this CPU, or null. Thread-safe.
const VectorKernels* SelectVectorKernels();

}  // namespace lossd::internal

#endif  // LOSSD_SRC_VECTOR_KERNELS_H_
