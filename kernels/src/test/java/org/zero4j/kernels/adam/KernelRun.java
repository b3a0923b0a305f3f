package org.zero4j.kernels.adam;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import org.bytedeco.pytorch.Tensor;

/**
 * One kernel step on copies of {@link AdamCase.Data}, in buffers that run {@value #GUARD} elements
 * past the view the kernel is given: the state tails hold a guard value and the copy-out buffer is
 * NaN-poisoned throughout, so unwritten elements and overruns both show.
 */
record KernelRun(
    float[] param,
    float[] expAvg,
    float[] expAvgSq,
    short[] copyOut,
    float[][] stateTails,
    short[] copyTail,
    short poison,
    GradStats stats) {

  static final int GUARD = 17;
  static final float GUARD_VALUE = 1234.5678f;

  static KernelRun run(CpuAdam kernel, AdamCase.Data d, Tensor grad, AdamCase c) {
    return run(kernel, d, grad, c, c.hyperparams());
  }

  static KernelRun run(
      CpuAdam kernel, AdamCase.Data d, Tensor grad, AdamCase c, AdamHyperparams hp) {
    int n = d.param().length;
    Tensor p = guarded(d.param());
    Tensor m = guarded(d.expAvg());
    Tensor v = guarded(d.expAvgSq());
    Tensor copy = null;
    FlatView copyView = null;
    short poison = 0;
    if (c.copyType() != null) {
      copy = NativeBuffers.filled(n + GUARD, c.copyType().scalarType(), Double.NaN);
      copyView = NativeBuffers.prefix(copy, n);
      poison = NativeBuffers.readShorts(copy)[0];
    }
    FlatState state =
        new FlatState(
            NativeBuffers.prefix(p, n), NativeBuffers.prefix(m, n), NativeBuffers.prefix(v, n));
    GradStats stats =
        kernel.step(state, FlatView.of(grad), hp, AdamCase.STEP, c.gradScale(), copyView);
    float[] pa = NativeBuffers.readFloats(p);
    float[] ma = NativeBuffers.readFloats(m);
    float[] va = NativeBuffers.readFloats(v);
    short[] ca = copy == null ? new short[n + GUARD] : NativeBuffers.readShorts(copy);
    float[][] tails = {
      Arrays.copyOfRange(pa, n, n + GUARD),
      Arrays.copyOfRange(ma, n, n + GUARD),
      Arrays.copyOfRange(va, n, n + GUARD)
    };
    return new KernelRun(
        Arrays.copyOf(pa, n),
        Arrays.copyOf(ma, n),
        Arrays.copyOf(va, n),
        copy == null ? null : Arrays.copyOf(ca, n),
        tails,
        copy == null ? null : Arrays.copyOfRange(ca, n, n + GUARD),
        poison,
        stats);
  }

  void checkGuards(String where) {
    for (float[] tail : stateTails) {
      for (float f : tail) {
        assertTrue(f == GUARD_VALUE, where + "state written past the end: " + f);
      }
    }
    if (copyTail != null) {
      for (short s : copyTail) {
        assertTrue(s == poison, where + "copy-out written past the end: " + (s & 0xffff));
      }
    }
  }

  /** Bit-identical state and copy-out; the fp64 sums may differ in summation order only. */
  void assertSameStateAs(KernelRun other, String where) {
    assertSameBits(where + "param", other.param, param);
    assertSameBits(where + "exp_avg", other.expAvg, expAvg);
    assertSameBits(where + "exp_avg_sq", other.expAvgSq, expAvgSq);
    if (!Arrays.equals(other.copyOut, copyOut)) {
      fail(where + "copy-out differs");
    }
    double a = other.stats.sumOfSquares();
    double b = stats.sumOfSquares();
    assertTrue(a == b || Math.abs(a - b) <= 1e-12 * Math.abs(a), where + "sum " + b + " vs " + a);
    assertTrue(other.stats.overflow() == stats.overflow(), where + "overflow flag differs");
  }

  static void assertSameBits(String what, float[] want, float[] got) {
    for (int i = 0; i < want.length; i++) {
      if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i])) {
        fail(what + "[" + i + "] = " + got[i] + ", expected bit-identical " + want[i]);
      }
    }
  }

  static Tensor guarded(float[] data) {
    float[] buf = Arrays.copyOf(data, data.length + GUARD);
    Arrays.fill(buf, data.length, buf.length, GUARD_VALUE);
    return NativeBuffers.floats(buf);
  }
}
