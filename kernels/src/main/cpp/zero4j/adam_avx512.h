// AVX-512F CPU Adam: 16 elements per vector, the scalar element update for the tail.
// Compiled for the AVX-512 target by attribute only; the caller checks the CPU before calling.
#pragma once

#include <immintrin.h>

#include "adam_scalar.h"

#define ZERO4J_AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))

namespace zero4j {

ZERO4J_AVX512 inline __m512 avx512_load_grad(const void* grad, int type, int64_t i) {
  if (type == GRAD_BF16) {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
        static_cast<const uint16_t*>(grad) + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  if (type == GRAD_FP16) {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
        static_cast<const uint16_t*>(grad) + i));
    return _mm512_cvtph_ps(h);
  }
  return _mm512_loadu_ps(static_cast<const float*>(grad) + i);
}

// Round-to-nearest-even fp32 -> bf16 with every NaN mapped to 0xFFFF (Note [bf16 NaN]).
ZERO4J_AVX512 inline __m256i avx512_to_bf16(__m512 x) {
  __m512i u = _mm512_castps_si512(x);
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r =
      _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0xffff));
  return _mm512_cvtepi32_epi16(r);
}

ZERO4J_AVX512 inline void avx512_store_copy(void* out, int type, int64_t i, __m512 p) {
  __m256i h = type == COPY_BF16
                  ? avx512_to_bf16(p)
                  : _mm512_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint16_t*>(out) + i), h);
}

ZERO4J_AVX512 inline __m512d avx512_add_squares(__m512d acc, __m512 g) {
  __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(g));
  __m512d hi = _mm512_cvtps_pd(
      _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(g), 1)));
  return _mm512_fmadd_pd(hi, hi, _mm512_fmadd_pd(lo, lo, acc));
}

ZERO4J_AVX512 inline double adam_range_avx512(const AdamJob& j, int64_t begin, int64_t end) {
  const AdamCoeffs& c = j.c;
  const __m512 inv_scale = _mm512_set1_ps(c.inv_scale);
  const __m512 beta1 = _mm512_set1_ps(c.beta1);
  const __m512 one_minus_beta1 = _mm512_set1_ps(c.one_minus_beta1);
  const __m512 beta2 = _mm512_set1_ps(c.beta2);
  const __m512 one_minus_beta2 = _mm512_set1_ps(c.one_minus_beta2);
  const __m512 eps = _mm512_set1_ps(c.eps);
  const __m512 bias2 = _mm512_set1_ps(c.bias2);
  const __m512 step_size = _mm512_set1_ps(c.step_size);
  const __m512 l2_decay = _mm512_set1_ps(c.l2_decay);
  const __m512 decoupled_decay = _mm512_set1_ps(c.decoupled_decay);
  __m512d acc = _mm512_setzero_pd();
  int64_t i = begin;
  for (; i + 16 <= end; i += 16) {
    __m512 g = _mm512_mul_ps(avx512_load_grad(j.grad, j.grad_type, i), inv_scale);
    acc = avx512_add_squares(acc, g);
    __m512 p = _mm512_loadu_ps(j.param + i);
    __m512 m = _mm512_loadu_ps(j.exp_avg + i);
    __m512 v = _mm512_loadu_ps(j.exp_avg_sq + i);
    if (c.decay_mode == DECAY_L2) g = _mm512_add_ps(_mm512_mul_ps(p, l2_decay), g);
    m = _mm512_mul_ps(m, beta1);
    m = _mm512_add_ps(_mm512_mul_ps(g, one_minus_beta1), m);
    v = _mm512_mul_ps(v, beta2);
    v = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(g, g), one_minus_beta2), v);
    __m512 denom = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(v), bias2), eps);
    __m512 update = _mm512_div_ps(m, denom);
    if (c.decay_mode == DECAY_DECOUPLED) p = _mm512_add_ps(_mm512_mul_ps(decoupled_decay, p), p);
    p = _mm512_add_ps(_mm512_mul_ps(update, step_size), p);
    _mm512_storeu_ps(j.param + i, p);
    _mm512_storeu_ps(j.exp_avg + i, m);
    _mm512_storeu_ps(j.exp_avg_sq + i, v);
    if (j.copy_type != COPY_NONE) avx512_store_copy(j.copy_out, j.copy_type, i, p);
  }
  return _mm512_reduce_add_pd(acc) + adam_range_scalar(j, i, end);
}

ZERO4J_AVX512 inline double grad_sumsq_avx512(const void* grad, int type, float inv_scale,
                                              int64_t begin, int64_t end) {
  const __m512 inv = _mm512_set1_ps(inv_scale);
  __m512d acc0 = _mm512_setzero_pd();
  __m512d acc1 = _mm512_setzero_pd();
  int64_t i = begin;
  for (; i + 32 <= end; i += 32) {
    acc0 = avx512_add_squares(acc0, _mm512_mul_ps(avx512_load_grad(grad, type, i), inv));
    acc1 = avx512_add_squares(acc1, _mm512_mul_ps(avx512_load_grad(grad, type, i + 16), inv));
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1)) +
         grad_sumsq_scalar(grad, type, inv_scale, i, end);
}

}  // namespace zero4j
