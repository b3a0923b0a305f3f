package org.zero4j.kernels.adam;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Bad input is rejected before any native code runs, with the value in the message. */
@SuppressWarnings("try") // PointerScopes free the temporaries of each block
class CpuAdamArgumentsTest {
  static final AdamHyperparams HP = new AdamHyperparams(1e-3, 0.9, 0.999, 1e-8, 0, true, true);

  @Test
  void badSizesTypesStepsAndScalesAreRejected() {
    try (PointerScope scope = new PointerScope()) {
      Tensor p = NativeBuffers.floats(new float[8]);
      Tensor m = NativeBuffers.floats(new float[8]);
      Tensor v = NativeBuffers.floats(new float[8]);
      Tensor shortV = NativeBuffers.floats(new float[7]);
      Tensor g = NativeBuffers.floats(new float[] {1, 2, 3, 4, 5, 6, 7, 8});
      Tensor g7 = NativeBuffers.floats(new float[7]);
      FlatState state = FlatState.of(p, m, v);
      CpuAdam k = new CpuAdam(1);
      FlatView grad = FlatView.of(g);
      rejects("7 elements", () -> FlatState.of(p, m, shortV));
      rejects("must be fp32", () -> FlatState.of(p.to(ScalarType.BFloat16), m, v));
      rejects("7 elements", () -> k.step(state, FlatView.of(g7), HP, 1, 1));
      rejects("got 0", () -> k.step(state, grad, HP, 0, 1));
      rejects("got 0.0", () -> k.step(state, grad, HP, 1, 0));
      rejects("got NaN", () -> k.step(state, grad, HP, 1, Double.NaN));
      rejects("got Infinity", () -> k.gradStats(grad, Double.POSITIVE_INFINITY));
      rejects("bf16 or fp16", () -> k.step(state, grad, HP, 1, 1, FlatView.of(g)));
      rejects(
          "bf16 or fp16",
          () -> k.step(state, grad, HP, 1, 1, FlatView.of(g7.to(ScalarType.BFloat16))));
      rejects("contiguous", () -> FlatView.of(g.view(2, 4).t()));
      rejects("Double", () -> FlatView.of(g.to(ScalarType.Double)));
      rejects("threads must be >= 1", () -> new CpuAdam(0));
    }
  }

  @Test
  void theFlatAdamSeamMatchesTheReference() {
    try (PointerScope scope = new PointerScope()) {
      AdamCase c = new AdamCase(true, true, 0.05, ElementType.FP32, null, 1);
      AdamCase.Data d = AdamCase.Data.random(1029, 3, 1);
      Tensor p = NativeBuffers.floats(d.param());
      Tensor m = NativeBuffers.floats(d.expAvg());
      Tensor v = NativeBuffers.floats(d.expAvgSq());
      Tensor g = NativeBuffers.floats(d.grad());
      Tensor p64 = p.to(ScalarType.Double);
      Tensor m64 = m.to(ScalarType.Double);
      Tensor v64 = v.to(ScalarType.Double);
      FlatAdam adam = new CpuAdam(2);
      adam.step(p, m, v, g, c.hyperparams(), 3);
      AdamReference.step(p64, m64, v64, g, c.hyperparams(), 3, 1);
      CpuAdamReferenceTest.assertClose(
          "param", NativeBuffers.readFloats(p), NativeBuffers.readDoubles(p64), d.param());
      CpuAdamReferenceTest.assertClose(
          "exp_avg_sq", NativeBuffers.readFloats(v), NativeBuffers.readDoubles(v64), d.expAvgSq());
    }
  }

  static void rejects(String fragment, Executable call) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().contains(fragment), e.getMessage());
  }
}
