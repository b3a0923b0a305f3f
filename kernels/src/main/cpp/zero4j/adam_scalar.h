// Portable scalar CPU Adam: the element update, the 16-bit conversions, and the scalar pass.
//
// Every vector path performs the same IEEE single-precision operations in the same order, one
// multiply and one add where DeepSpeed uses an FMA; with -ffp-contract=off this makes the scalar
// and vector paths bit-identical, which the tests assert.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace zero4j {

enum GradType { GRAD_FP32 = 0, GRAD_BF16 = 1, GRAD_FP16 = 2 };
enum CopyType { COPY_NONE = 0, COPY_BF16 = 1, COPY_FP16 = 2 };
enum DecayMode { DECAY_NONE = 0, DECAY_L2 = 1, DECAY_DECOUPLED = 2 };

// Per-step constants, rounded to fp32 by the caller from fp64 values.
struct AdamCoeffs {
  float inv_scale;        // 1 / loss scale, applied to every gradient
  float beta1;
  float one_minus_beta1;
  float beta2;
  float one_minus_beta2;
  float eps;
  float bias2;            // 1 / sqrt(1 - beta2^step), or 1 without bias correction
  float step_size;        // -lr / (1 - beta1^step), or -lr without bias correction
  float l2_decay;         // weight_decay, used with DECAY_L2
  float decoupled_decay;  // -lr * weight_decay, used with DECAY_DECOUPLED
  int decay_mode;
};

// One fused pass over [begin, end) of these buffers.
struct AdamJob {
  float* param;
  float* exp_avg;
  float* exp_avg_sq;
  const void* grad;
  int grad_type;
  void* copy_out;
  int copy_type;
  AdamCoeffs c;
};

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline float bf16_to_float(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

// Note [bf16 NaN]: finite values and infinities round to nearest even. Every NaN becomes 0xFFFF,
// which is what libtorch's vectorised CPU conversion (AVX2 and AVX-512) writes, so the copy-out is
// bit-identical to tensor.to(kBFloat16) on those CPUs for every input, NaNs included.
inline uint16_t float_to_bf16(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0xffffu;
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// Exact fp16 -> fp32, subnormals included; NaN payloads are kept and quieted like VCVTPH2PS.
inline float fp16_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0));
  if (exp != 0) return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
  // Subnormal or zero: mant * 2^-24 is exact in fp32.
  return bits_float(sign | float_bits(static_cast<float>(mant) * 0x1p-24f));
}

// fp32 -> fp16 with IEEE round-to-nearest-even, subnormals included. NaNs keep the sign and the
// top payload bits and become quiet, as VCVTPS2PH does, so this equals the F16C/AVX-512 paths.
inline uint16_t float_to_fp16(float f) {
  uint32_t u = float_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 2^16: infinity
  if (a >= 0x38800000u) {
    // Normal result: rebias the exponent (127 -> 15), then round the 13 dropped bits to nearest
    // even; a carry out of the mantissa correctly bumps the exponent, up to infinity.
    uint32_t r = a - (112u << 23);
    r += 0xfffu + ((r >> 13) & 1u);
    return static_cast<uint16_t>(sign | (r >> 13));
  }
  // Note [fp16 subnormal]: below 2^-14 the result is a multiple of 2^-24. Adding 0.5f puts the
  // value in [0.5, 1), whose fp32 ulp is exactly 2^-24, so the FPU's own round-to-nearest-even
  // does the rounding and the low mantissa bits are the fp16 subnormal (0x400 when it rounds up
  // to the smallest normal, which is also the right encoding).
  float shifted = bits_float(a) + 0.5f;
  return static_cast<uint16_t>(sign | (float_bits(shifted) - 0x3f000000u));
}

inline float load_grad(const void* grad, int type, int64_t i) {
  switch (type) {
    case GRAD_BF16:
      return bf16_to_float(static_cast<const uint16_t*>(grad)[i]);
    case GRAD_FP16:
      return fp16_to_float(static_cast<const uint16_t*>(grad)[i]);
    default:
      return static_cast<const float*>(grad)[i];
  }
}

inline void store_copy(void* out, int type, int64_t i, float p) {
  if (type == COPY_BF16) {
    static_cast<uint16_t*>(out)[i] = float_to_bf16(p);
  } else if (type == COPY_FP16) {
    static_cast<uint16_t*>(out)[i] = float_to_fp16(p);
  }
}

// The update of one element, DeepSpeed's operation order; returns the unscaled gradient.
inline float adam_element(const AdamJob& j, int64_t i) {
  const AdamCoeffs& c = j.c;
  float g = load_grad(j.grad, j.grad_type, i) * c.inv_scale;
  float unscaled = g;
  float p = j.param[i];
  float m = j.exp_avg[i];
  float v = j.exp_avg_sq[i];
  if (c.decay_mode == DECAY_L2) g = p * c.l2_decay + g;
  m = m * c.beta1;
  m = g * c.one_minus_beta1 + m;
  v = v * c.beta2;
  v = (g * g) * c.one_minus_beta2 + v;
  float denom = std::sqrt(v) * c.bias2 + c.eps;
  float update = m / denom;
  if (c.decay_mode == DECAY_DECOUPLED) p = c.decoupled_decay * p + p;
  p = update * c.step_size + p;
  j.param[i] = p;
  j.exp_avg[i] = m;
  j.exp_avg_sq[i] = v;
  if (j.copy_type != COPY_NONE) store_copy(j.copy_out, j.copy_type, i, p);
  return unscaled;
}

// Scalar pass over [begin, end); returns the fp64 sum of squares of the unscaled gradients.
inline double adam_range_scalar(const AdamJob& j, int64_t begin, int64_t end) {
  double sum = 0;
  for (int64_t i = begin; i < end; i++) {
    double g = adam_element(j, i);
    sum += g * g;
  }
  return sum;
}

inline double grad_sumsq_scalar(const void* grad, int type, float inv_scale, int64_t begin,
                                int64_t end) {
  double sum = 0;
  for (int64_t i = begin; i < end; i++) {
    double g = load_grad(grad, type, i) * inv_scale;
    sum += g * g;
  }
  return sum;
}

}  // namespace zero4j
