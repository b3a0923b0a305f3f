package org.zero4j.zero.stage3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.zero.MemoryBreakdown;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.Precision;
import org.zero4j.zero.Stage3Config;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Stage 3's memory: the live window of gathered parameters against {@code
 * stage3_max_live_parameters}, the storage actually freed on release (also behind the views that
 * autograd saves for backward), and per-rank model state against 16Ψ/N in bf16.
 */
class Stage3MemoryTest {

  /** Unit sizes 8385, 10010, 7878, 5100, 1683 elements; the root parameter is frozen. */
  static final int[] WIDTHS = {64, 129, 77, 101, 50, 33};

  private static final AdamHyperparams HP =
      new AdamHyperparams(0.01, 0.9, 0.99, 1e-8, 0.1, true, true);

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  /** The chain's trainable parameters without the root {@code scale}, which is frozen. */
  static List<NamedParameter> unitParams(UnitChain model) {
    model.scale.set_requires_grad(false);
    List<NamedParameter> out = new ArrayList<>();
    for (NamedParameter p : model.named()) {
      if (!p.name().equals("scale")) {
        out.add(p);
      }
    }
    return out;
  }

  static Stage3Config config(long prefetch, long maxLive) {
    return new Stage3Config(prefetch, 0, Long.MAX_VALUE, maxLive, 0, false, 0, false, false);
  }

  @ParameterizedTest(name = "max live {0}")
  @ValueSource(longs = {0, 12_000, 20_000, 1_000_000_000L})
  void liveWindowNeverExceedsMaxLivePlusOneUnit(long maxLive) {
    List<long[]> peaks =
        LocalRanks.run(
            2,
            Duration.ofSeconds(60),
            comm -> {
              UnitChain model = UnitChain.create(3, WIDTHS);
              for (NamedParameter p : model.named()) {
                p.tensor().set_data(p.tensor().detach().to(torch.ScalarType.BFloat16));
              }
              AtomicLong max = new AtomicLong();
              long largest;
              try (Stage3Optimizer zero =
                  new Stage3Optimizer(
                      unitParams(model),
                      model.units,
                      new Stage3Options(
                          Precision.BF16,
                          Precision.BF16,
                          500_000,
                          true,
                          true,
                          config(1_000_000_000L, maxLive)),
                      comm,
                      new CpuAdam(1))) {
                zero.sampleLive(b -> max.accumulateAndGet(b, Math::max));
                largest = 0;
                for (int i = 0; i < zero.unitNames().size(); i++) {
                  largest = Math.max(largest, zero.unitNumel(i));
                }
                for (int step = 1; step <= 3; step++) {
                  Tensor[] b = UnitChain.batch(3, step, 4, WIDTHS);
                  zero.beforeBackward();
                  model.loss(b[0].to(torch.ScalarType.BFloat16), b[1]).backward();
                  zero.afterBackward();
                  zero.step(HP, step, 1.0, 0.0);
                  assertEquals(0, zero.liveBytes(), "everything is released after a step");
                }
                assertEquals(max.get(), zero.memory().peakLiveParams());
              }
              return new long[] {max.get(), largest};
            });
    long peakElements = peaks.get(0)[0] / 2; // bf16
    long largest = peaks.get(0)[1];
    assertTrue(
        peakElements <= maxLive + largest,
        "live window peaked at " + peakElements + " elements, over " + maxLive + " + " + largest);
    if (maxLive >= 1_000_000_000L) {
      assertTrue(peakElements > largest, "prefetch must gather ahead when the window allows");
    }
  }

  /**
   * With a prefetch bucket over the model, training keeps each unit gathered from its forward to
   * its backward (Note [prefetch scan keeps what it passes]); a forward without gradients has no
   * backward to keep them for, so it leaves nothing gathered.
   */
  @Test
  void aForwardWithoutGradientsKeepsNothingGathered() {
    List<long[]> seen =
        LocalRanks.run(
            2,
            Duration.ofSeconds(60),
            comm -> {
              UnitChain model = UnitChain.create(3, WIDTHS);
              try (Stage3Optimizer zero =
                  new Stage3Optimizer(
                      unitParams(model),
                      model.units,
                      Stage3Options.of(Precision.FP32, config(1_000_000_000L, 1_000_000_000L)),
                      comm,
                      new CpuAdam(1))) {
                long keptInTraining = 0;
                for (int step = 1; step <= 2; step++) {
                  Tensor[] b = UnitChain.batch(3, step, 4, WIDTHS);
                  Tensor loss = model.loss(b[0], b[1]);
                  keptInTraining = zero.liveBytes();
                  zero.beforeBackward();
                  loss.backward();
                  zero.afterBackward();
                  zero.step(HP, step, 1.0, 0.0);
                }
                Tensor[] b = UnitChain.batch(3, 3, 4, WIDTHS);
                try (org.bytedeco.pytorch.NoGradGuard noGrad =
                    new org.bytedeco.pytorch.NoGradGuard()) {
                  model.loss(b[0], b[1]);
                }
                return new long[] {keptInTraining, zero.liveBytes()};
              }
            });
    assertTrue(seen.get(0)[0] > 0, "training forward keeps units for backward: " + seen.get(0)[0]);
    assertEquals(0, seen.get(0)[1], "no-grad forward leaves nothing gathered");
  }

  @Test
  void releaseFreesTheStorageAndModelStateIs16PsiOverN() {
    int world = 4;
    List<long[]> seen =
        LocalRanks.run(
            world,
            Duration.ofSeconds(60),
            comm -> {
              UnitChain model = UnitChain.create(5, WIDTHS);
              for (NamedParameter p : model.named()) {
                p.tensor().set_data(p.tensor().detach().to(torch.ScalarType.BFloat16));
              }
              List<NamedParameter> params = unitParams(model);
              long psi = 0;
              for (NamedParameter p : params) {
                psi += p.tensor().numel();
              }
              try (Stage3Optimizer zero =
                  new Stage3Optimizer(
                      params,
                      model.units,
                      new Stage3Options(
                          Precision.BF16, Precision.BF16, 500_000, true, true, config(0, 0)),
                      comm,
                      new CpuAdam(1))) {
                Tensor[] b = UnitChain.batch(5, 1, 8, WIDTHS);
                zero.beforeBackward();
                Tensor loss = model.loss(b[0].to(torch.ScalarType.BFloat16), b[1]);
                // After forward, autograd holds views of every unit's weight (weight.t()), yet
                // the released units' storage is gone: only what the window says is allocated.
                long allocated = storageBytes(zero);
                long liveAfterForward = zero.liveBytes();
                loss.backward();
                zero.afterBackward();
                zero.step(HP, 1, 1.0, 0.0);
                long allocatedAfterStep = storageBytes(zero);
                long paramBytes = 0;
                for (NamedParameter p : params) {
                  paramBytes += p.tensor().storage().nbytes();
                }
                MemoryBreakdown m = zero.memory();
                return new long[] {
                  allocated,
                  liveAfterForward,
                  allocatedAfterStep,
                  paramBytes,
                  m.total() - m.liveParams(),
                  psi,
                  m.peakLiveParams()
                };
              }
            });
    for (long[] s : seen) {
      assertEquals(s[1], s[0], "allocated gathered storage after forward equals the live window");
      assertEquals(0, s[1], "max_live 0 and no reuse: nothing stays gathered after forward");
      assertEquals(0, s[2], "no gathered storage after the step");
      assertEquals(0, s[3], "parameters hold no storage outside their unit");
      double expected = 16.0 * s[5] / world;
      double off = Math.abs(s[4] - expected) / expected;
      assertTrue(off <= 0.05, "model state " + s[4] + " bytes vs 16Psi/N " + expected);
      assertTrue(s[6] > 0, "units were gathered");
    }
  }

  private static long storageBytes(Stage3Optimizer zero) {
    long sum = 0;
    for (UnitParams u : zero.unitParams()) {
      sum += u.full().tensor().storage().nbytes();
    }
    return sum;
  }
}
