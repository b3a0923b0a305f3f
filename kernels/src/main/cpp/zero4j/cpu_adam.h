// Entry points of the fused CPU Adam kernel, called through JNI from org.zero4j.kernels.adam.
//
// Note [run-time dispatch]: the whole library is compiled for baseline x86-64; the AVX2 and
// AVX-512 paths are functions with gcc target attributes, and only the path named by the caller
// runs. The Java side picks it from isa_supported(), so the library loads and runs on any x86-64.
//
// Note [tiles]: the range is cut into tiles of TILE elements, handed to OpenMP threads in
// contiguous blocks (static schedule). Each tile writes its own fp64 sum of squares and the tiles
// are added in index order, so the sum does not depend on the thread count.
#pragma once

// Note [gcc 12 AVX-512 warnings]: gcc 12 reports its own intrinsic headers' `__Y = __Y`
// placeholders as uninitialised when they are inlined into target("avx512f") functions at -O3
// (gcc bug 105593). The warnings are attributed to those headers, so they are silenced here,
// before the headers are first included, and restored at the end of this file.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "adam_avx2.h"
#include "adam_avx512.h"
#include "adam_scalar.h"

namespace zero4j {

enum Isa { ISA_SCALAR = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };

constexpr int64_t TILE = 1 << 14;

inline bool isa_supported(int isa) {
  __builtin_cpu_init();
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
              __builtin_cpu_supports("f16c");
  switch (isa) {
    case ISA_SCALAR:
      return true;
    case ISA_AVX2:
      return avx2;
    case ISA_AVX512:
      return avx2 && __builtin_cpu_supports("avx512f");
    default:
      return false;
  }
}

inline const char* compiled_variants() {
  return "scalar, avx2 (AVX2+FMA+F16C), avx512 (AVX-512F); gcc " __VERSION__
         "; -O3 -fno-math-errno -ffp-contract=off -fopenmp";
}

template <class Range>
double tiled_sum(int threads, int64_t n, const Range& range) {
  int64_t tiles = (n + TILE - 1) / TILE;
  if (threads <= 1 || tiles <= 1) {
    double sum = 0;
    for (int64_t t = 0; t < tiles; t++) sum += range(t * TILE, std::min(n, (t + 1) * TILE));
    return sum;
  }
  std::vector<double> partial(static_cast<size_t>(tiles));
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t t = 0; t < tiles; t++) {
    partial[static_cast<size_t>(t)] = range(t * TILE, std::min(n, (t + 1) * TILE));
  }
  double sum = 0;
  for (double p : partial) sum += p;
  return sum;
}

// One fused Adam pass; returns the fp64 sum of squares of the unscaled gradients (inf or NaN when
// any unscaled gradient is inf or NaN). coeffs holds AdamCoeffs' float fields in declaration order.
inline double adam_step(int isa, int threads, long long n, long long param, long long exp_avg,
                        long long exp_avg_sq, long long grad, int grad_type, long long copy_out,
                        int copy_type, const float* coeffs, int decay_mode) {
  AdamJob j;
  j.param = reinterpret_cast<float*>(param);
  j.exp_avg = reinterpret_cast<float*>(exp_avg);
  j.exp_avg_sq = reinterpret_cast<float*>(exp_avg_sq);
  j.grad = reinterpret_cast<const void*>(grad);
  j.grad_type = grad_type;
  j.copy_out = reinterpret_cast<void*>(copy_out);
  j.copy_type = copy_type;
  j.c = AdamCoeffs{coeffs[0], coeffs[1], coeffs[2], coeffs[3], coeffs[4], coeffs[5],
                   coeffs[6], coeffs[7], coeffs[8], coeffs[9], decay_mode};
  switch (isa) {
    case ISA_AVX512:
      return tiled_sum(threads, n, [&](int64_t b, int64_t e) { return adam_range_avx512(j, b, e); });
    case ISA_AVX2:
      return tiled_sum(threads, n, [&](int64_t b, int64_t e) { return adam_range_avx2(j, b, e); });
    default:
      return tiled_sum(threads, n, [&](int64_t b, int64_t e) { return adam_range_scalar(j, b, e); });
  }
}

// The read-only pre-pass: the same sum of squares as adam_step, without touching the state.
inline double grad_sum_squares(int isa, int threads, long long n, long long grad, int grad_type,
                               float inv_scale) {
  const void* g = reinterpret_cast<const void*>(grad);
  switch (isa) {
    case ISA_AVX512:
      return tiled_sum(threads, n, [&](int64_t b, int64_t e) {
        return grad_sumsq_avx512(g, grad_type, inv_scale, b, e);
      });
    case ISA_AVX2:
      return tiled_sum(threads, n, [&](int64_t b, int64_t e) {
        return grad_sumsq_avx2(g, grad_type, inv_scale, b, e);
      });
    default:
      return tiled_sum(threads, n, [&](int64_t b, int64_t e) {
        return grad_sumsq_scalar(g, grad_type, inv_scale, b, e);
      });
  }
}

}  // namespace zero4j

#pragma GCC diagnostic pop
