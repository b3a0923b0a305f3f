package org.zero4j.zero.stage3;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.zero.Precision;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Ranks that diverge (one skips a unit the others run) fail with an error naming the unit and the
 * step, within the collective timeout, instead of hanging or exchanging the wrong unit's data.
 */
class Stage3DivergenceTest {

  /** Five units of the same shape, so a skipped unit still leaves valid shapes. */
  private static final int[] WIDTHS = {16, 16, 16, 16, 16, 16};

  private static final Duration TIMEOUT = Duration.ofSeconds(5);

  private static final AdamHyperparams HP =
      new AdamHyperparams(0.01, 0.9, 0.99, 1e-8, 0.0, true, true);

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  /**
   * Rank 1 skips unit l2 in the second step. Without prefetch the ranks gather different units in
   * forward; with prefetch forward gathers every unit ahead on both ranks alike and the mismatch
   * shows in backward's re-gather.
   */
  @ParameterizedTest(name = "prefetch {0}")
  @ValueSource(longs = {0, 1_000_000_000L})
  void skippedUnitFailsEveryRankNamingTheUnitAndStep(long prefetch) {
    ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
    long t0 = System.nanoTime();
    assertThrows(
        RuntimeException.class,
        () -> run(prefetch, errors, (rank, step) -> rank == 1 && step == 2));
    double seconds = (System.nanoTime() - t0) / 1e9;
    assertTrue(seconds < TIMEOUT.toSeconds() + 3, "took " + seconds + " s");
    errors.forEach(System.out::println);
    assertTrue(errors.size() == 2, "both ranks must fail: " + errors);
    for (String e : errors) {
      assertTrue(e.contains("ZeRO stage 3 ranks diverged at step 1"), e);
      assertTrue(e.contains("'l2'"), e);
    }
  }

  @Test
  void aPeerThatStallsFailsTheSurvivorWithinTheTimeout() {
    ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
    double[] stalledAt = {0};
    assertThrows(
        RuntimeException.class,
        () ->
            run(
                0,
                errors,
                (rank, step) -> {
                  if (rank == 1 && step == 2) {
                    // alive but no longer calling collectives, past the survivor's timeout
                    stalledAt[0] = since();
                    sleep(TIMEOUT.plusSeconds(2));
                    throw new IllegalStateException("rank 1 stops");
                  }
                  return false;
                }));
    errors.forEach(System.out::println);
    String survivor =
        errors.stream().filter(e -> !e.contains("rank 1 stops")).findFirst().orElseThrow();
    assertTrue(survivor.contains("unit 'l2' at step 1"), survivor);
    // Gloo's own timeout ("Operation timed out", "Application timeout caused pair closure") or
    // Pending's bounded wait ("did not complete within PT5S"), whichever fires first
    String lower = survivor.toLowerCase(java.util.Locale.ROOT);
    assertTrue(
        lower.contains("timed out")
            || lower.contains("timeout")
            || lower.contains("did not complete within pt5s"),
        survivor);
    double at = Double.parseDouble(survivor.substring(0, survivor.indexOf(' ')));
    assertTrue(
        at - stalledAt[0] < TIMEOUT.toSeconds() + 2,
        "the survivor failed " + (at - stalledAt[0]) + " s after the peer stalled");
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private interface Skip {
    boolean skipL2(int rank, int step);
  }

  private static volatile long start;

  private static double since() {
    return (System.nanoTime() - start) / 1e9;
  }

  private static void run(long prefetch, ConcurrentLinkedQueue<String> errors, Skip skip) {
    start = System.nanoTime();
    LocalRanks.run(
        2,
        TIMEOUT,
        comm -> {
          UnitChain model = UnitChain.create(11, WIDTHS);
          try (Stage3Optimizer zero =
              new Stage3Optimizer(
                  Stage3MemoryTest.unitParams(model),
                  model.units,
                  new Stage3Options(
                      Precision.FP32,
                      Precision.FP32,
                      500_000,
                      true,
                      true,
                      Stage3MemoryTest.config(prefetch, 1_000_000_000L)),
                  comm,
                  new CpuAdam(1))) {
            for (int step = 1; step <= 3; step++) {
              Tensor[] b = UnitChain.batch(11, step, 4, WIDTHS);
              zero.beforeBackward();
              Tensor x = b[0];
              List<ShardedUnit> units = new ArrayList<>(model.units);
              for (int i = 0; i < units.size(); i++) {
                if (i == 2 && skip.skipL2(comm.rank(), step)) {
                  continue;
                }
                x = units.get(i).forward(x);
              }
              torch.mse_loss(x, b[1]).backward();
              zero.afterBackward();
              zero.step(HP, step, 1.0, 0.0);
            }
            return null;
          } catch (RuntimeException e) {
            errors.add(String.format(java.util.Locale.ROOT, "%.3f ", since()) + e.getMessage());
            throw e;
          }
        });
  }
}
