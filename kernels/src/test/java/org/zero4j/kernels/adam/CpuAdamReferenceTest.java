package org.zero4j.kernels.adam;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The kernel on every supported path against {@link AdamReference} (libtorch ops in float64).
 *
 * <p>Tolerance: |kernel - reference| <= 1e-6 * max(|reference|, |value before the step|,
 * rms(reference)) per element. The kernel computes in fp32, so a few ulps (about 1e-7 relative
 * each) separate it from the exact result. The floors cover elements where the update's sum cancels
 * to near zero (exp_avg = 0.9 m + 0.1 g, or a param that crosses zero): their error is the fp32
 * rounding of the terms, whose size the old value and the tensor's rms bound, while relative to the
 * tiny result it is unbounded. Copy-outs are compared bit for bit with libtorch's own {@code
 * .to(dtype)} of the kernel's fp32 params, and every path is compared bit for bit with the scalar
 * path.
 */
@SuppressWarnings("try") // PointerScopes free the temporaries of each block
class CpuAdamReferenceTest {
  static final double REL = 1e-6;

  @ParameterizedTest
  @ValueSource(ints = {1, 7, 15, 1023, 4099})
  void everyOptionCombinationMatchesTheFloat64Reference(int n) {
    List<AdamCase> cases = AdamCase.all();
    for (int i = 0; i < cases.size(); i++) {
      check(n, cases.get(i), 1000L * n + i);
    }
  }

  // Note [big size]: all 144 combinations at 1M+3 elements cost about a minute of float64
  // reference ops on 2 cores; the size adds the tile split and the OpenMP threads.
  @Test
  void oneMillionPlusThreeMatchesTheFloat64ReferenceOnEveryCombination() {
    List<AdamCase> cases = AdamCase.all();
    for (int i = 0; i < cases.size(); i++) {
      check(1_000_003, cases.get(i), 77 + i);
    }
  }

  /** Runs one case on every supported path and checks it completely. */
  static void check(int n, AdamCase c, long seed) {
    String label = "n=" + n + " " + c + ": ";
    try (PointerScope scope = new PointerScope()) {
      AdamCase.Data d = AdamCase.Data.random(n, seed, c.gradScale());
      Tensor grad = NativeBuffers.floats(d.grad());
      if (c.gradType() != ElementType.FP32) {
        grad = grad.to(c.gradType().scalarType());
      }
      Tensor p64 = NativeBuffers.floats(d.param()).to(ScalarType.Double);
      Tensor m64 = NativeBuffers.floats(d.expAvg()).to(ScalarType.Double);
      Tensor v64 = NativeBuffers.floats(d.expAvgSq()).to(ScalarType.Double);
      GradStats ref =
          AdamReference.step(p64, m64, v64, grad, c.hyperparams(), AdamCase.STEP, c.gradScale());
      double[] refP = NativeBuffers.readDoubles(p64);
      double[] refM = NativeBuffers.readDoubles(m64);
      double[] refV = NativeBuffers.readDoubles(v64);
      double norm = grad.to(ScalarType.Double).div(new Scalar(c.gradScale())).norm().item_double();

      KernelRun scalar = null;
      for (Isa isa : Isa.supportedPaths()) {
        String where = label + isa.label() + ": ";
        KernelRun run = KernelRun.run(new CpuAdam(2, isa), d, grad, c);
        assertClose(where + "param", run.param(), refP, d.param());
        assertClose(where + "exp_avg", run.expAvg(), refM, d.expAvg());
        assertClose(where + "exp_avg_sq", run.expAvgSq(), refV, d.expAvgSq());
        run.checkGuards(where);
        if (c.copyType() != null) {
          short[] want =
              NativeBuffers.readShorts(
                  NativeBuffers.floats(run.param()).to(c.copyType().scalarType()));
          assertBitsEqual(where + "copy-out vs libtorch .to()", want, run.copyOut());
        }
        assertFalse(run.stats().overflow(), where + "overflow on finite gradients");
        assertRelative(where + "sum of squares vs reference", ref.sumOfSquares(), run.stats());
        assertRelative(where + "sum of squares vs libtorch norm()^2", norm * norm, run.stats());
        if (scalar == null) {
          assertEquals(Isa.SCALAR, isa);
          scalar = run;
        } else {
          run.assertSameStateAs(scalar, where + "vs scalar path: ");
        }
      }
    }
  }

  static void assertClose(String what, float[] got, double[] want, float[] before) {
    double sq = 0;
    for (double w : want) {
      sq += w * w;
    }
    double rms = Math.sqrt(sq / want.length);
    for (int i = 0; i < want.length; i++) {
      double tol = REL * Math.max(Math.max(Math.abs(want[i]), Math.abs(before[i])), rms);
      if (!(Math.abs(got[i] - want[i]) <= tol)) {
        fail(what + "[" + i + "] = " + got[i] + ", reference " + want[i] + ", tolerance " + tol);
      }
    }
  }

  static void assertRelative(String what, double want, GradStats got) {
    double err = Math.abs(got.sumOfSquares() - want) / Math.abs(want);
    assertTrue(err <= REL, what + ": " + got.sumOfSquares() + " vs " + want + " (rel " + err + ")");
  }

  static void assertBitsEqual(String what, short[] want, short[] got) {
    assertEquals(want.length, got.length, what + ": length");
    for (int i = 0; i < want.length; i++) {
      if (want[i] != got[i]) {
        fail(
            String.format(
                "%s: element %d is 0x%04x, expected 0x%04x",
                what, i, got[i] & 0xffff, want[i] & 0xffff));
      }
    }
  }
}
