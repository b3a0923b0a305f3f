// AVX2 + F16C CPU Adam: 8 elements per vector, the scalar element update for the tail.
// Compiled for the AVX2 target by attribute only; the caller checks the CPU before calling.
#pragma once

#include <immintrin.h>

#include "adam_scalar.h"

#define ZERO4J_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace zero4j {

ZERO4J_AVX2 inline __m256 avx2_load_grad(const void* grad, int type, int64_t i) {
  if (type == GRAD_BF16) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(
        static_cast<const uint16_t*>(grad) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  if (type == GRAD_FP16) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(
        static_cast<const uint16_t*>(grad) + i));
    return _mm256_cvtph_ps(h);
  }
  return _mm256_loadu_ps(static_cast<const float*>(grad) + i);
}

// Round-to-nearest-even fp32 -> bf16 with every NaN mapped to 0xFFFF (Note [bf16 NaN]).
ZERO4J_AVX2 inline __m128i avx2_to_bf16(__m256 x) {
  __m256i u = _mm256_castps_si256(x);
  __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  __m256i r =
      _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
  __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
  r = _mm256_blendv_epi8(r, _mm256_set1_epi32(0xffff), nan);
  return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}

ZERO4J_AVX2 inline void avx2_store_copy(void* out, int type, int64_t i, __m256 p) {
  __m128i h = type == COPY_BF16 ? avx2_to_bf16(p)
                                : _mm256_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint16_t*>(out) + i), h);
}

ZERO4J_AVX2 inline __m256d avx2_add_squares(__m256d acc, __m256 g) {
  __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(g));
  __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(g, 1));
  return _mm256_fmadd_pd(hi, hi, _mm256_fmadd_pd(lo, lo, acc));
}

ZERO4J_AVX2 inline double avx2_sum(__m256d acc) {
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, acc);
  return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

ZERO4J_AVX2 inline double adam_range_avx2(const AdamJob& j, int64_t begin, int64_t end) {
  const AdamCoeffs& c = j.c;
  const __m256 inv_scale = _mm256_set1_ps(c.inv_scale);
  const __m256 beta1 = _mm256_set1_ps(c.beta1);
  const __m256 one_minus_beta1 = _mm256_set1_ps(c.one_minus_beta1);
  const __m256 beta2 = _mm256_set1_ps(c.beta2);
  const __m256 one_minus_beta2 = _mm256_set1_ps(c.one_minus_beta2);
  const __m256 eps = _mm256_set1_ps(c.eps);
  const __m256 bias2 = _mm256_set1_ps(c.bias2);
  const __m256 step_size = _mm256_set1_ps(c.step_size);
  const __m256 l2_decay = _mm256_set1_ps(c.l2_decay);
  const __m256 decoupled_decay = _mm256_set1_ps(c.decoupled_decay);
  __m256d acc = _mm256_setzero_pd();
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    __m256 g = _mm256_mul_ps(avx2_load_grad(j.grad, j.grad_type, i), inv_scale);
    acc = avx2_add_squares(acc, g);
    __m256 p = _mm256_loadu_ps(j.param + i);
    __m256 m = _mm256_loadu_ps(j.exp_avg + i);
    __m256 v = _mm256_loadu_ps(j.exp_avg_sq + i);
    if (c.decay_mode == DECAY_L2) g = _mm256_add_ps(_mm256_mul_ps(p, l2_decay), g);
    m = _mm256_mul_ps(m, beta1);
    m = _mm256_add_ps(_mm256_mul_ps(g, one_minus_beta1), m);
    v = _mm256_mul_ps(v, beta2);
    v = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(g, g), one_minus_beta2), v);
    __m256 denom = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(v), bias2), eps);
    __m256 update = _mm256_div_ps(m, denom);
    if (c.decay_mode == DECAY_DECOUPLED) p = _mm256_add_ps(_mm256_mul_ps(decoupled_decay, p), p);
    p = _mm256_add_ps(_mm256_mul_ps(update, step_size), p);
    _mm256_storeu_ps(j.param + i, p);
    _mm256_storeu_ps(j.exp_avg + i, m);
    _mm256_storeu_ps(j.exp_avg_sq + i, v);
    if (j.copy_type != COPY_NONE) avx2_store_copy(j.copy_out, j.copy_type, i, p);
  }
  return avx2_sum(acc) + adam_range_scalar(j, i, end);
}

ZERO4J_AVX2 inline double grad_sumsq_avx2(const void* grad, int type, float inv_scale,
                                          int64_t begin, int64_t end) {
  const __m256 inv = _mm256_set1_ps(inv_scale);
  __m256d acc0 = _mm256_setzero_pd();
  __m256d acc1 = _mm256_setzero_pd();
  int64_t i = begin;
  for (; i + 16 <= end; i += 16) {
    acc0 = avx2_add_squares(acc0, _mm256_mul_ps(avx2_load_grad(grad, type, i), inv));
    acc1 = avx2_add_squares(acc1, _mm256_mul_ps(avx2_load_grad(grad, type, i + 8), inv));
  }
  return avx2_sum(_mm256_add_pd(acc0, acc1)) + grad_sumsq_scalar(grad, type, inv_scale, i, end);
}

}  // namespace zero4j
