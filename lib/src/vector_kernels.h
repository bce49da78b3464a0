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

// The softmax cross-entropy of rows with few classes, vectorised across
// rows (one row per lane) rather than along them: cross_entropy_fast.h's
// formulas, per row r with sample weight s_r and gradient scale g_r (both 0
// for a row left out), the label y_r (hard targets; any value outside
// [0, classes) matches no class) or the target row t_r (soft targets),
// class weights w (null: ones; W their sum) and t' = keep t + spread:
//   loss_r = sum_c s_r w_c t'_rc (lse_r - x_rc) + z_loss s_r lse_r^2
//   grad_rc = g_r [p_rc (sum_c s_r w_c t'_rc + 2 z_loss s_r lse_r)
//             - s_r w_c t'_rc]
// Rows to recompute get bit r of `redo` and no meaningful outputs: those
// with a NaN or infinite logit, and, with soft targets or smoothing, those
// whose gradient cancels below what float32 holds (every |grad_rc| under a
// 32nd of the terms p_rc sum_a and a_rc it is the difference of: the
// prediction matches the smoothed target so closely that most digits are
// lost, see kCancellation).
constexpr int64_t kSmallBlockRows = 64;   // The most rows of one call.
constexpr int64_t kMaxSmallClasses = 16;  // small_classes is at most this.

struct SmallRowsArgs {
  const float* x = nullptr;       // [rows, classes]
  int64_t rows = 0;               // At most kSmallBlockRows.
  int64_t classes = 0;            // At most small_classes.
  const float* label = nullptr;   // [rows] class indices as floats, or null.
  const float* target = nullptr;  // [rows, classes], or null.
  const float* weight = nullptr;  // [classes], or null.
  float weight_total = 0;         // W.
  float keep = 1;
  float spread = 0;
  float z_loss = 0;
  const float* sample_weight = nullptr;  // [rows]
  const float* grad_scale = nullptr;     // [rows]
  float* loss = nullptr;                 // [rows], out.
  float* grad = nullptr;                 // [rows, classes], out, or null.
  uint64_t redo = 0;                     // Out.
};

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
  // False if any x_c is NaN or infinite, or if the gradient cancels (every
  // entry under 1/kCancellation of the terms it is the difference of, as
  // when sigmoid(x) all but equals a soft target): the outputs are then to
  // be recomputed by the scalar kernel.
  bool ok = true;
  double loss_sum = 0;
};

// A row (with soft targets or smoothing) whose gradient entries are all
// below 1/kCancellation of the largest of the terms they are differences of
// (p_c sum(a) and a_c, times g) has lost more digits than float32 can spare
// (the float32 exp alone errs by an ulp or two): it is recomputed in
// float64. This happens when the prediction all but equals the smoothed
// target, not on ordinary rows.
constexpr float kCancellation = 32;

// What finish_row wrote: max_c |out_c| (only with a target or bias: without
// them no entry is a difference, and it is 0), and the largest of the two
// terms any out_c is the difference of (|scale| and the w_c (...) products;
// e <= 1).
struct FinishedRow {
  float largest = 0;
  float largest_term = 0;
};

struct VectorKernels {
  const char* name;  // "avx512" or "avx2".

  // Computes a row's statistics and writes e_c into `exp_out` (which may be
  // the row's gradient buffer). `weight` and `target` may be null;
  // weight_gap is computed only when `want_weight_gap`. `next_x`, if not
  // null, is the row computed next: it is prefetched meanwhile, so that the
  // next row's first pass does not wait on memory. (Prefetching where the
  // next row's e goes, for writing, made the kernels 5-25% slower on an AMD
  // Zen 4: it evicts the current row's lines.)
  //
  // `chunk_max` is null for rows of at most `two_pass_classes`: e_c =
  // exp(x_c - max) after a first pass that finds the maximum (three passes
  // with finish_row). Longer rows no longer fit L1 with their e, and each
  // pass goes to L2: for them the caller passes ChunkCount(classes) floats,
  // and the maximum of each `chunk` classes is found while the chunk is in
  // L1, written to chunk_max, and used for that chunk's e (two passes).
  // When the row is not finite, exp_out may have been partly written.
  SoftmaxRow (*softmax_row)(const float* x, int64_t classes, float* exp_out,
                            const float* weight, const float* target,
                            bool want_weight_gap, const float* next_x,
                            float* chunk_max);

  // out_c = e_c * scale - w_c * (bias_target * t_c + bias), in place when
  // out == e. `weight` null means all ones; `target` null means t = 0.
  // With `chunk_max` (softmax_row's), e_c is first brought from its chunk's
  // maximum to the row's, `row_max`.
  FinishedRow (*finish_row)(const float* e, int64_t classes, float scale,
                            const float* weight, const float* target,
                            float bias_target, float bias, float* out,
                            const float* chunk_max, float row_max);

  // Rows of more classes take two passes; a chunk's classes share one
  // maximum there (softmax_row above).
  int64_t two_pass_classes;
  int64_t chunk;
  int64_t ChunkCount(int64_t classes) const {
    return (classes + chunk - 1) / chunk;
  }

  // Rows of at most `small_classes` classes: see SmallRowsArgs.
  int64_t small_classes;
  void (*cross_entropy_small_rows)(SmallRowsArgs& args);

  BinaryRowSums (*binary_row)(const BinaryRowArgs& args);

  // out_i = in_i as float32, from bfloat16 (`bfloat16`) or float16 bits.
  // `prefetch`, if not null, is read next: as many 16-bit values from it
  // are prefetched meanwhile.
  void (*float16_to_float)(const uint16_t* in, int64_t count, bool bfloat16,
                           float* out, const uint16_t* prefetch);

  // max_i |values_i| (0 for none).
  float (*max_abs)(const float* values, int64_t count);
};

// The kernels for this CPU, or null. Thread-safe.
const VectorKernels* SelectVectorKernels();

}  // namespace lossd::internal

#endif  // LOSSD_SRC_VECTOR_KERNELS_H_
