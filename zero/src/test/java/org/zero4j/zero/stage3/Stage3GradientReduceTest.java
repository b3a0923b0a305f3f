package org.zero4j.zero.stage3;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.Precision;
import org.zero4j.zero.Stage3Config;
import org.zero4j.zero.StepResult;
import org.zero4j.zero.TorchReference;
import org.zero4j.zero.ZeroOptimizer;
import org.zero4j.zero.ZeroRuntime;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Stage 3's gradient reduction with gradient accumulation (several backwards per step) and with a
 * wire precision other than the working one ({@code communication_data_type}), against stage 0 with
 * the same settings on 2 ranks: the first reduce of each unit after a step overwrites its chunk of
 * the shard gradient, later ones add to it, and a conversion may sit in between.
 *
 * <p>Tolerance: stage 0 converts and sums the same gradients in another order, so the results agree
 * to the working precision's rounding: 1e-5 in fp32, 0.01 in bf16 (as in {@link Stage3ParityTest}).
 */
class Stage3GradientReduceTest {

  private static final int STEPS = 4;
  private static final int ROWS = 12;
  private static final long SEED = 19;
  private static final AdamHyperparams HP =
      new AdamHyperparams(0.01, 0.9, 0.99, 1e-8, 0.1, true, true);

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  @ParameterizedTest(name = "{0} working, {1} wire, {2} micro-steps, overlap {3}")
  @CsvSource({"FP32, FP32, 3, true", "BF16, FP32, 2, true", "BF16, BF16, 3, false"})
  void accumulatesLikeStageZero(Precision working, Precision wire, int micro, boolean overlap) {
    List<Tensor> stage3 = train(working, wire, micro, overlap, 3);
    List<Tensor> stage0 = train(working, wire, micro, overlap, 0);
    double diff = TorchReference.maxAbsDiff(stage3, stage0);
    double tol = working == Precision.FP32 ? 1e-5 : 0.01;
    assertTrue(diff <= tol, "stage 3 differs from stage 0 by " + diff);
  }

  private static List<Tensor> train(
      Precision working, Precision wire, int micro, boolean overlap, int stage) {
    return LocalRanks.run(
            2,
            Duration.ofSeconds(60),
            comm -> {
              UnitChain model = UnitChain.create(SEED);
              List<NamedParameter> named = model.named();
              for (NamedParameter p : named) {
                p.tensor().set_data(p.tensor().detach().to(working.scalarType()));
              }
              Stage3Config s3 =
                  new Stage3Config(
                      1000, 0, Long.MAX_VALUE, 1_000_000_000L, 0, false, 0, false, false);
              ZeroRuntime zero =
                  stage == 3
                      ? new Stage3Optimizer(
                          named,
                          model.units,
                          new Stage3Options(working, wire, 500, overlap, true, s3),
                          comm,
                          new CpuAdam(1))
                      : new ZeroOptimizer(
                          named,
                          new ZeroOptimizer.Options(
                              0, working, wire, 100, 100, overlap, true, true, true),
                          comm,
                          new CpuAdam(1));
              int local = ROWS / 2 / micro;
              for (int step = 1; step <= STEPS; step++) {
                Tensor[] b = UnitChain.batch(SEED, step, ROWS);
                for (int m = 0; m < micro; m++) {
                  long from = (long) comm.rank() * (ROWS / 2) + (long) m * local;
                  Tensor x = b[0].narrow(0, from, local);
                  Tensor y = b[1].narrow(0, from, local);
                  zero.beforeBackward();
                  model.loss(x.to(working.scalarType()), y).backward();
                  zero.afterBackward();
                }
                StepResult r = zero.step(HP, step, micro, 0.0);
                assertTrue(!r.skipped());
              }
              List<Tensor> params = new ArrayList<>();
              if (zero instanceof Stage3Optimizer s) {
                for (Tensor t : s.fullParameters()) {
                  params.add(t.to(torch.ScalarType.Float));
                }
              } else {
                for (NamedParameter p : named) {
                  params.add(p.tensor().detach().to(torch.ScalarType.Float));
                }
              }
              zero.close();
              return params;
            })
        .get(0);
  }
}
