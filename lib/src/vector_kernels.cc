#include "vector_kernels.h"

// GCC 12 reports its own AVX-512 intrinsics (built on _mm512_undefined_*)
// as using uninitialised values; they do not.
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <cpuid.h>
#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string_view>
#include <type_traits>

namespace lossd::internal {
namespace {

// ---------------------------------------------------------------- AVX-512
#if defined(__clang__)
#pragma clang attribute push(                                               \
    __attribute__((                                                         \
        target("avx512f,avx512dq,avx512bw,avx512vl,fma,bmi,bmi2,popcnt"))), \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,fma,bmi,bmi2,popcnt")
#endif
namespace avx512 {

constexpr const char* kName = "avx512";
constexpr int kLanes = 16;
using V = __m512;
using Mask = __mmask16;

inline V Set(float value) { return _mm512_set1_ps(value); }
// One cache line (16 floats), to be written, into L1.
inline void PrefetchForWrite(float* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_ET0);
}
// One cache line (16 floats) into L2, or the last-level cache if `far`.
inline void Prefetch(const float* p, bool far) {
  if (far) {
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T2);
  } else {
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T1);
  }
}
inline V Load(const float* p) { return _mm512_loadu_ps(p); }
inline Mask FirstLanes(int n) { return static_cast<Mask>((1u << n) - 1); }
inline V LoadN(const float* p, int n, float fill) {
  return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), FirstLanes(n), p);
}
inline void Store(float* p, V v) { _mm512_storeu_ps(p, v); }
inline void StoreN(float* p, V v, int n) {
  _mm512_mask_storeu_ps(p, FirstLanes(n), v);
}
inline V Add(V a, V b) { return _mm512_add_ps(a, b); }
inline V Sub(V a, V b) { return _mm512_sub_ps(a, b); }
inline V Mul(V a, V b) { return _mm512_mul_ps(a, b); }
inline V Max(V a, V b) { return _mm512_max_ps(a, b); }
inline V Fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
inline Mask AllLanes() { return 0xffff; }
inline Mask And(Mask a, Mask b) { return a & b; }
inline Mask Or(Mask a, Mask b) { return a | b; }
inline bool AllSet(Mask m) { return m == 0xffff; }
inline int CountSet(Mask m) { return std::popcount(static_cast<unsigned>(m)); }
inline int FirstSet(Mask m) {
  return std::countr_zero(static_cast<unsigned>(m));
}
inline Mask Less(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
inline Mask Equal(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
inline Mask IsFinite(V a) {
  // Not a NaN (0x01, 0x80) or an infinity (0x08, 0x10), in one instruction.
  return static_cast<Mask>(~_mm512_fpclass_ps_mask(a, 0x99));
}
inline V AddWhere(V sum, Mask m, V v) {
  return _mm512_mask_add_ps(sum, m, sum, v);
}
inline float ReduceMax(V v) { return _mm512_reduce_max_ps(v); }
inline float ReduceAddFloat(V v) { return _mm512_reduce_add_ps(v); }
inline V Where(Mask m, V v) { return _mm512_maskz_mov_ps(m, v); }
inline V Select(Mask m, V a, V b) { return _mm512_mask_blend_ps(m, b, a); }
inline V Div(V a, V b) { return _mm512_div_ps(a, b); }
inline V Abs(V a) { return _mm512_abs_ps(a); }
// 1 / a for a in [1, 2]: the 14-bit estimate and one Newton step (float32
// precision but for an ulp or so).
inline V Reciprocal(V a) {
  const V r = _mm512_rcp14_ps(a);
  return _mm512_mul_ps(r, _mm512_fnmadd_ps(a, r, _mm512_set1_ps(2.0f)));
}
inline V LoadBFloat16(const uint16_t* p) {
  const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
}
inline V LoadFloat16(const uint16_t* p) {
  return _mm512_cvtph_ps(
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline Mask Not(Mask m) { return static_cast<Mask>(~m); }
// b and not a.
inline Mask AndNot(Mask a, Mask b) { return static_cast<Mask>(~a & b); }
inline uint64_t LaneBits(Mask m) { return m; }
inline Mask GreaterEqual(V a, V b) {
  return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ);
}
// x = mantissa * 2^exponent with mantissa in [0.5, 1), for positive normal x.
inline void Frexp(V x, V* mantissa, V* exponent) {
  *mantissa = _mm512_getmant_ps(x, _MM_MANT_NORM_p5_1, _MM_MANT_SIGN_src);
  *exponent = Add(_mm512_getexp_ps(x), Set(1.0f));
}
inline double ReduceAdd(V v) {
  const __m512d low = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
  const __m512d high = _mm512_cvtps_pd(
      _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  return _mm512_reduce_add_pd(_mm512_add_pd(low, high));
}

// exp(x) for x <= 0: 2^(k + j/16) e^r with 16 k + j = n = round(16 x /
// ln(2)) and r = x - n ln(2)/16 in [-ln(2)/32, ln(2)/32]; 2^(j/16) from a
// 16-entry table held in a register, e^r as 1 + r + r^2 (c2 + c3 r)
// (minimax, 2e-9 before rounding). Within 2 ulp down to x = -20 and 5 ulp
// (the error of ln(2)/16 in float32, times n) down to -87.3, which is
// what any x below gives (1.2e-38, not 0: the result stays a normal
// float). Eleven vector instructions, against fifteen for a polynomial
// over [-ln(2)/2, ln(2)/2].
inline V Exp(V x) {
  // The bits of 2^(j/16), less j << 19 (see below).
  alignas(64) static constexpr uint32_t kPowerBits[16] = {
      0x3f800000, 0x3f7daac3, 0x3f7b95c2, 0x3f79c3d3, 0x3f7837f0, 0x3f76f532,
      0x3f75fed7, 0x3f75583f, 0x3f7504f3, 0x3f7508a4, 0x3f75672a, 0x3f76248c,
      0x3f7744fd, 0x3f78ccdf, 0x3f7ac0c7, 0x3f7d257d};
  x = Max(x, Set(-87.3f));
  // Adding 1.5 2^23 rounds to an integer, left in the low mantissa bits: t
  // holds n = 16 k + j, and n << 19 (the shifter's bits shift out) is
  // k << 23, k in the exponent field, plus j << 19, which the table's
  // entries subtract.
  const V shifter = Set(12582912.0f);
  const V t = Fmadd(x, Set(23.0831206542234f), shifter);
  const V n = Sub(t, shifter);
  const V r = Fmadd(n, Set(-0.0433216987849921f), x);
  // vpermd reads the low 4 bits of each lane's index: n mod 16 = j.
  const __m512i power_bits =
      _mm512_add_epi32(_mm512_permutexvar_epi32(_mm512_castps_si512(t),
                                                _mm512_load_si512(kPowerBits)),
                       _mm512_slli_epi32(_mm512_castps_si512(t), 19));
  const V power = _mm512_castsi512_ps(power_bits);  // 2^(k + j/16)
  const V q = Fmadd(Fmadd(r, Set(1.666671932e-01f), Set(5.000162125e-01f)), r,
                    Set(1.0f));
  return Fmadd(Mul(r, q), power, power);
}

// Transposes the 16 x 16 matrix whose rows are m[0..15], in place.
inline void Transpose(V* m) {
  V t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(m[i], m[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(m[i], m[i + 1]);
  }
  // u[4 i + j], 128-bit lane k: rows 4 i .. 4 i + 3 of column 4 k + j.
  for (int i = 0; i < 16; i += 4) {
    u[i] = _mm512_castpd_ps(
        _mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    u[i + 1] = _mm512_castpd_ps(
        _mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    u[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]),
                                                   _mm512_castps_pd(t[i + 3])));
    u[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]),
                                                   _mm512_castps_pd(t[i + 3])));
  }
  for (int j = 0; j < 4; ++j) {
    const V a = u[j], b = u[4 + j], c = u[8 + j], d = u[12 + j];
    const V ab_low = _mm512_shuffle_f32x4(a, b, 0x44);   // a0 a1 b0 b1
    const V ab_high = _mm512_shuffle_f32x4(a, b, 0xee);  // a2 a3 b2 b3
    const V cd_low = _mm512_shuffle_f32x4(c, d, 0x44);
    const V cd_high = _mm512_shuffle_f32x4(c, d, 0xee);
    m[j] = _mm512_shuffle_f32x4(ab_low, cd_low, 0x88);        // a0 b0 c0 d0
    m[4 + j] = _mm512_shuffle_f32x4(ab_low, cd_low, 0xdd);    // a1 b1 c1 d1
    m[8 + j] = _mm512_shuffle_f32x4(ab_high, cd_high, 0x88);  // a2 b2 c2 d2
    m[12 + j] = _mm512_shuffle_f32x4(ab_high, cd_high, 0xdd);
  }
}

#include "vector_kernels.inc"

}  // namespace avx512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

// ---------------------------------------------------------------- AVX2
#if defined(__clang__)
#pragma clang attribute push(                                 \
    __attribute__((target("avx2,fma,f16c,bmi,bmi2,popcnt"))), \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi,bmi2,popcnt")
#endif
namespace avx2 {

constexpr const char* kName = "avx2";
constexpr int kLanes = 8;
using V = __m256;
using Mask = __m256;  // All-ones lanes.

inline V Set(float value) { return _mm256_set1_ps(value); }
// One cache line (16 floats, two vectors), to be written, into L1.
inline void PrefetchForWrite(float* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_ET0);
}
// One cache line into L2, or the last-level cache if `far`.
inline void Prefetch(const float* p, bool far) {
  if (far) {
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T2);
  } else {
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T1);
  }
}
inline V Load(const float* p) { return _mm256_loadu_ps(p); }
inline __m256i LaneMask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline Mask FirstLanes(int n) { return _mm256_castsi256_ps(LaneMask(n)); }
inline V LoadN(const float* p, int n, float fill) {
  const __m256i mask = LaneMask(n);
  return _mm256_blendv_ps(Set(fill), _mm256_maskload_ps(p, mask),
                          _mm256_castsi256_ps(mask));
}
inline void Store(float* p, V v) { _mm256_storeu_ps(p, v); }
inline void StoreN(float* p, V v, int n) {
  _mm256_maskstore_ps(p, LaneMask(n), v);
}
inline V Add(V a, V b) { return _mm256_add_ps(a, b); }
inline V Sub(V a, V b) { return _mm256_sub_ps(a, b); }
inline V Mul(V a, V b) { return _mm256_mul_ps(a, b); }
inline V Max(V a, V b) { return _mm256_max_ps(a, b); }
inline V Fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
inline Mask AllLanes() { return _mm256_castsi256_ps(_mm256_set1_epi32(-1)); }
inline Mask And(Mask a, Mask b) { return _mm256_and_ps(a, b); }
inline Mask Or(Mask a, Mask b) { return _mm256_or_ps(a, b); }
inline bool AllSet(Mask m) { return _mm256_movemask_ps(m) == 0xff; }
inline int CountSet(Mask m) {
  return std::popcount(static_cast<unsigned>(_mm256_movemask_ps(m)));
}
inline int FirstSet(Mask m) {
  return std::countr_zero(static_cast<unsigned>(_mm256_movemask_ps(m)));
}
inline Mask Less(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
inline Mask Equal(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
inline Mask IsFinite(V a) {
  const V magnitude = _mm256_andnot_ps(Set(-0.0f), a);
  return _mm256_cmp_ps(magnitude, Set(std::numeric_limits<float>::infinity()),
                       _CMP_LT_OQ);
}
inline V AddWhere(V sum, Mask m, V v) { return Add(sum, _mm256_and_ps(m, v)); }
inline V Where(Mask m, V v) { return _mm256_and_ps(m, v); }
inline V Select(Mask m, V a, V b) { return _mm256_blendv_ps(b, a, m); }
inline V Div(V a, V b) { return _mm256_div_ps(a, b); }
inline V Abs(V a) { return _mm256_andnot_ps(Set(-0.0f), a); }
inline V Reciprocal(V a) { return _mm256_div_ps(Set(1.0f), a); }
inline V LoadBFloat16(const uint16_t* p) {
  const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
}
inline V LoadFloat16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline Mask Not(Mask m) { return _mm256_xor_ps(m, AllLanes()); }
// b and not a.
inline Mask AndNot(Mask a, Mask b) { return _mm256_andnot_ps(a, b); }
inline uint64_t LaneBits(Mask m) {
  return static_cast<uint64_t>(_mm256_movemask_ps(m));
}
inline Mask GreaterEqual(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
inline float ReduceAddFloat(V v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
// x = mantissa * 2^exponent with mantissa in [0.5, 1), for positive normal x.
inline void Frexp(V x, V* mantissa, V* exponent) {
  const __m256i bits = _mm256_castps_si256(x);
  *exponent = _mm256_cvtepi32_ps(
      _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126)));
  *mantissa = _mm256_castsi256_ps(
      _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
                      _mm256_set1_epi32(0x3f000000)));
}
inline float ReduceMax(V v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}
inline double ReduceAdd(V v) {
  const __m256d low = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  const __m256d high = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
  const __m256d sum = _mm256_add_pd(low, high);
  const __m128d pair =
      _mm_add_pd(_mm256_castpd256_pd128(sum), _mm256_extractf128_pd(sum, 1));
  return _mm_cvtsd_f64(_mm_add_sd(pair, _mm_unpackhi_pd(pair, pair)));
}
inline V RoundToNearest(V a) {
  return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
// y * 2^m for integral m in [-127, 0] (0 at -127: the exponent field 0).
inline V TimesPowerOfTwo(V y, V m) {
  const __m256i exponent =
      _mm256_slli_epi32(_mm256_cvttps_epi32(Add(m, Set(127.0f))), 23);
  return Mul(y, _mm256_castsi256_ps(exponent));
}

// exp(x) for x <= 0: e^r 2^m with m = round(x log2(e)) and r = x - m ln(2)
// in [-ln(2)/2, ln(2)/2], e^r as 1 + r q(r) with q of degree 5 (minimax
// for relative error, 2e-9 before rounding: within an ulp or two). 0 below
// about -87.7 (where m is -127).
inline V Exp(V x) {
  x = Max(x, Set(-88.0f));
  const V m = RoundToNearest(Mul(x, Set(1.44269504088896341f)));
  const V r = Fmadd(m, Set(-0.693147180559945309f), x);
  V q = Fmadd(Set(1.3843653723597527e-3f), r, Set(8.37415549904108e-3f));
  q = Fmadd(q, r, Set(4.166800156235695e-2f));
  q = Fmadd(q, r, Set(1.6666431725025177e-1f));
  q = Fmadd(q, r, Set(4.999999403953552e-1f));
  q = Fmadd(q, r, Set(1.0f));
  return TimesPowerOfTwo(Fmadd(r, q, Set(1.0f)), m);
}

// Transposes the 8 x 8 matrix whose rows are m[0..7], in place.
inline void Transpose(V* m) {
  V t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(m[i], m[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(m[i], m[i + 1]);
  }
  // u[4 i + j], 128-bit lane k: rows 4 i .. 4 i + 3 of column 4 k + j.
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (int j = 0; j < 4; ++j) {
    m[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
    m[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
  }
}

#include "vector_kernels.inc"

}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

}  // namespace

const VectorKernels* SelectVectorKernels() {
  static const VectorKernels* const selected = []() -> const VectorKernels* {
    __builtin_cpu_init();
    const char* forced = std::getenv("LOSSD_VECTOR_KERNELS");
    const std::string_view want = forced == nullptr ? "" : forced;
    if (want == "none") return nullptr;
    if (want != "avx2" && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
      return &avx512::kKernels;
    }
    // F16C by cpuid: clang 14's __builtin_cpu_supports does not know it.
    unsigned eax, ebx, ecx, edx;
    const bool f16c =
        __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        f16c) {
      return &avx2::kKernels;
    }
    return nullptr;
  }();
  return selected;
}

}  // namespace lossd::internal
