package org.zero4j.kernels.adam;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.TreeSet;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.javacpp.ShortPointer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Overflow detection and the sum of squares, from the pre-pass and from the fused step. */
@SuppressWarnings("try") // PointerScopes free the temporaries of each block
class GradStatsTest {
  static final int[] SIZES = {1, 7, 8, 15, 16, 17, 31, 33, 1023, 40_000};
  static final AdamHyperparams HP = new AdamHyperparams(1e-3, 0.9, 0.999, 1e-8, 0, true, true);

  @Test
  void anInfOrNanInAnySinglePositionIsAnOverflowOnEveryPath() {
    for (int n : SIZES) {
      for (ElementType type : ElementType.values()) {
        try (PointerScope scope = new PointerScope()) {
          Tensor grad = randomGrad(n, type, n);
          FlatView view = FlatView.of(grad);
          Tensor p = NativeBuffers.floats(new float[n]);
          Tensor m = NativeBuffers.floats(new float[n]);
          Tensor v = NativeBuffers.floats(new float[n]);
          FlatState state = FlatState.of(p, m, v);
          for (Isa isa : Isa.supportedPaths()) {
            CpuAdam kernel = new CpuAdam(2, isa);
            String where = "n=" + n + " " + type + " " + isa.label();
            assertFalse(kernel.gradStats(view, 1).overflow(), where + ": clean pre-pass");
            assertFalse(kernel.step(state, view, HP, 1, 1).overflow(), where + ": clean step");
            for (int pos : positions(n)) {
              for (int bad : badValues(type)) {
                int saved = poke(grad, type, pos, bad);
                String what = where + " pos " + pos + " bits 0x" + Integer.toHexString(bad);
                assertTrue(kernel.gradStats(view, 1).overflow(), what + ": pre-pass");
                assertTrue(kernel.gradStats(view, 1024).overflow(), what + ": pre-pass scaled");
                assertTrue(kernel.step(state, view, HP, 1, 1).overflow(), what + ": step");
                poke(grad, type, pos, saved);
              }
            }
            assertFalse(kernel.gradStats(view, 1).overflow(), where + ": restored");
          }
        }
      }
    }
  }

  @Test
  void aFiniteGradientThatUnscalesPastFp32MaxIsAnOverflow() {
    try (PointerScope scope = new PointerScope()) {
      float[] g = new float[100];
      g[63] = 3e38f;
      FlatView view = FlatView.of(NativeBuffers.floats(g));
      for (Isa isa : Isa.supportedPaths()) {
        CpuAdam kernel = new CpuAdam(1, isa);
        assertFalse(kernel.gradStats(view, 1).overflow(), isa.label());
        assertTrue(kernel.gradStats(view, 0.25).overflow(), isa.label());
      }
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 4099, 1_000_003})
  void theSumOfSquaresMatchesLibtorchNormSquared(int n) {
    for (ElementType type : ElementType.values()) {
      for (double scale : new double[] {1, 1024}) {
        try (PointerScope scope = new PointerScope()) {
          Tensor grad = randomGrad(n, type, 31 * n + (long) scale);
          grad.mul_(new Scalar(scale));
          double norm = grad.to(ScalarType.Double).div(new Scalar(scale)).norm().item_double();
          double want = norm * norm;
          for (Isa isa : Isa.supportedPaths()) {
            GradStats got = new CpuAdam(2, isa).gradStats(FlatView.of(grad), scale);
            double rel = Math.abs(got.sumOfSquares() - want) / want;
            assertTrue(
                rel <= 1e-6,
                "n=" + n + " " + type + " scale " + scale + " " + isa.label() + ": rel " + rel);
            assertFalse(got.overflow());
          }
        }
      }
    }
  }

  static Tensor randomGrad(int n, ElementType type, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] g = new float[n];
    for (int i = 0; i < n; i++) {
      g[i] = (float) r.nextGaussian();
    }
    Tensor t = NativeBuffers.floats(g);
    return type == ElementType.FP32 ? t : t.to(type.scalarType());
  }

  /** First, middle, last, and the lane and tile edges of both vector widths that fit. */
  static TreeSet<Integer> positions(int n) {
    TreeSet<Integer> out = new TreeSet<>();
    for (int p :
        new int[] {0, n / 2, n - 1, n - 2, 7, 8, 15, 16, 17, 31, 32, 16383, 16384, 32767}) {
      if (p >= 0 && p < n) {
        out.add(p);
      }
    }
    return out;
  }

  static int[] badValues(ElementType type) {
    return switch (type) {
      case FP32 -> new int[] {0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001};
      case BF16 -> new int[] {0x7f80, 0xff80, 0x7fc0, 0xffff};
      case FP16 -> new int[] {0x7c00, 0xfc00, 0x7e00, 0x7c01};
    };
  }

  /** Writes raw bits at one position and returns the bits that were there. */
  static int poke(Tensor grad, ElementType type, int pos, int bits) {
    if (type == ElementType.FP32) {
      IntPointer p = new IntPointer(grad.data_ptr());
      int old = p.get(pos);
      p.put(pos, bits);
      return old;
    }
    ShortPointer p = new ShortPointer(grad.data_ptr());
    int old = p.get(pos) & 0xffff;
    p.put(pos, (short) bits);
    return old;
  }
}
