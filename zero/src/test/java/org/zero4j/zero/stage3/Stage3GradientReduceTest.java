package org.zero4j.zero.stage3;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zero4j.zero.Precision;
import org.zero4j.zero.Stage3Config;
import org.zero4j.zero.TorchReference;
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
              Stage3Config s3 =
                  new Stage3Config(
                      1000, 0, Long.MAX_VALUE, 1_000_000_000L, 0, false, 0, false, false);
              ChainTraining t = new ChainTraining(comm, SEED, stage, working, wire, overlap, s3);
              int local = ROWS / 2 / micro;
              for (int step = 1; step <= STEPS; step++) {
                Tensor[] b = UnitChain.batch(SEED, step, ROWS);
                for (int m = 0; m < micro; m++) {
                  long from = (long) comm.rank() * (ROWS / 2) + (long) m * local;
                  t.backward(b[0].narrow(0, from, local), b[1].narrow(0, from, local));
                }
                t.step(step, micro);
              }
              return t.finish();
            })
        .get(0);
  }
}
