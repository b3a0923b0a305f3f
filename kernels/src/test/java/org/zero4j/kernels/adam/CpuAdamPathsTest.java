package org.zero4j.kernels.adam;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Path selection through {@value Isa#PROPERTY}, and results independent of path and threads. */
@SuppressWarnings("try") // PointerScopes free the temporaries of each block
class CpuAdamPathsTest {
  static final int N = 33_331; // three tiles (two threads busy) and an odd tail

  @AfterEach
  void clearProperty() {
    System.clearProperty(Isa.PROPERTY);
  }

  @Test
  void eachVectorPathForcedThroughThePropertyMatchesTheForcedScalarPathBitForBit() {
    Map<Double, AdamCase.Data> data = new HashMap<>();
    for (Isa vector : List.of(Isa.AVX2, Isa.AVX512)) {
      if (!vector.supported()) {
        continue;
      }
      for (AdamCase c : AdamCase.all()) {
        AdamCase.Data d = data.computeIfAbsent(c.gradScale(), s -> AdamCase.Data.random(N, 5, s));
        try (PointerScope scope = new PointerScope()) {
          Tensor grad = NativeBuffers.floats(d.grad());
          if (c.gradType() != ElementType.FP32) {
            grad = grad.to(c.gradType().scalarType());
          }
          KernelRun scalar = runForced(Isa.SCALAR, d, grad, c);
          KernelRun run = runForced(vector, d, grad, c);
          run.checkGuards(vector.label() + " " + c + ": ");
          run.assertSameStateAs(scalar, vector.label() + " " + c + " vs forced scalar: ");
        }
      }
    }
  }

  @Test
  void theThreadCountChangesNeitherTheStateNorTheSum() {
    int n = 1_000_003;
    AdamCase c = new AdamCase(true, true, 0.05, ElementType.BF16, ElementType.FP16, 1024);
    AdamCase.Data d = AdamCase.Data.random(n, 9, c.gradScale());
    try (PointerScope scope = new PointerScope()) {
      Tensor grad = NativeBuffers.floats(d.grad()).to(c.gradType().scalarType());
      KernelRun one = KernelRun.run(new CpuAdam(1, Isa.best()), d, grad, c);
      for (int threads : new int[] {2, 3}) {
        KernelRun many = KernelRun.run(new CpuAdam(threads, Isa.best()), d, grad, c);
        many.assertSameStateAs(one, threads + " threads vs 1: ");
        assertEquals(one.stats().sumOfSquares(), many.stats().sumOfSquares(), threads + " threads");
      }
    }
  }

  @Test
  void thePropertySelectsThePathAndAutoSelectsTheBest() {
    System.setProperty(Isa.PROPERTY, "scalar");
    assertEquals(Isa.SCALAR, new CpuAdam(1).isa());
    System.setProperty(Isa.PROPERTY, "AUTO");
    assertEquals(Isa.best(), new CpuAdam(1).isa());
    System.clearProperty(Isa.PROPERTY);
    assertEquals(Isa.best(), Isa.selected());
  }

  @Test
  void anUnknownPathIsRejectedNamingTheKey() {
    System.setProperty(Isa.PROPERTY, "sse9");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, Isa::selected);
    assertTrue(e.getMessage().contains(Isa.PROPERTY + "=sse9"), e.getMessage());
  }

  @Test
  void theReportNamesEveryCompiledPathAndTheChosenOne() {
    String report = CpuAdam.report();
    for (String s : new String[] {"scalar", "avx2", "avx512", "chosen " + Isa.best().label()}) {
      assertTrue(report.contains(s), report);
    }
  }

  static KernelRun runForced(Isa isa, AdamCase.Data d, Tensor grad, AdamCase c) {
    System.setProperty(Isa.PROPERTY, isa.label());
    CpuAdam kernel = new CpuAdam(2);
    assertEquals(isa, kernel.isa());
    return KernelRun.run(kernel, d, grad, c);
  }
}
