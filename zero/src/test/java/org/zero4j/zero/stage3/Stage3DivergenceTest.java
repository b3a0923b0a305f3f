package org.zero4j.zero.stage3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
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

  /**
   * Prefetch about two units ahead. A bucket over the whole chain would keep every unit gathered
   * from forward to backward (Note [prefetch scan keeps what it passes]), so that a skipped unit
   * changes no collective of its own step: with ignore_unused_parameters its gradient counts as
   * zero on the rank that skipped it, and the next step's prefetch order differs instead.
   */
  private static final long PREFETCH = 600;

  private static final AdamHyperparams HP =
      new AdamHyperparams(0.01, 0.9, 0.99, 1e-8, 0.0, true, true);

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  /**
   * Rank 1 skips unit l2 in step {@code skipAt}. Without prefetch the ranks gather different units
   * in forward; with prefetch the first difference is in what each rank prefetches.
   *
   * <p>In step 2 the ranks are still confirming each collective with the others (the first
   * iteration with prefetch differs from the one before it), so both see each other's header at
   * once. In step 3 they follow the agreed order of step 2 without headers: rank 1 leaves it and
   * waits on the control group while rank 0 waits on its data collective until the timeout, then
   * asks there (Note [agreed order] in UnitCollectives).
   */
  @ParameterizedTest(name = "prefetch {0}, skip in step {1}")
  @CsvSource({"0, 2", "600, 2", "0, 3", "600, 3"}) // 600: PREFETCH
  void skippedUnitFailsEveryRankNamingTheUnitAndStep(long prefetch, int skipAt) {
    ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
    long t0 = System.nanoTime();
    assertThrows(
        RuntimeException.class,
        () -> run(prefetch, errors, (rank, step) -> rank == 1 && step == skipAt));
    double seconds = (System.nanoTime() - t0) / 1e9;
    assertTrue(seconds < TIMEOUT.toSeconds() + 3, "took " + seconds + " s");
    errors.forEach(System.out::println);
    assertTrue(errors.size() == 2, "both ranks must fail: " + errors);
    for (String e : errors) {
      assertTrue(e.contains("ZeRO stage 3 ranks diverged at step " + (skipAt - 1)), e);
      // without prefetch the first collective that differs is l2's own gather; with it, the
      // first that differs is a prefetch that follows from the skip, and the error names those
      assertTrue(e.contains(prefetch == 0 ? "'l2'" : "of unit 'l"), e);
    }
  }

  /**
   * Every rank skipping the same unit in one step is no divergence: the ranks confirm the changed
   * order with each other and train on, identically. Step 3 skips l2, so step 3's backward, step
   * 4's forward (prefetching in step 3's order) and step 5 (like step 2 again) each leave the order
   * of the step before; step 6 follows step 5's with no header at all.
   */
  @Test
  void aChangeEveryRankMakesIsConfirmedAndTrainingGoesOn() {
    int steps = 6;
    List<long[]> perRank =
        LocalRanks.run(
            2,
            TIMEOUT,
            comm -> {
              long[] out = new long[steps + 2]; // confirmations after each step, then a checksum
              List<Tensor> full =
                  train(
                      PREFETCH,
                      comm,
                      steps,
                      (rank, step) -> step == 3,
                      (step, zero) -> out[step] = zero.unitComm().confirmations());
              double sum = 0;
              for (Tensor t : full) {
                sum += t.to(torch.ScalarType.Double).abs().sum().item_double();
              }
              out[steps + 1] = Double.doubleToLongBits(sum);
              return out;
            });
    long[] c = perRank.get(0);
    String seen = Arrays.toString(Arrays.copyOf(c, steps + 1));
    for (int step = 3; step <= 5; step++) {
      assertTrue(c[step] > c[step - 1], "step " + step + " was confirmed: " + seen);
    }
    assertEquals(c[5], c[6], "step 6 follows step 5 with no header: " + seen);
    assertEquals(c[steps + 1], perRank.get(1)[steps + 1], "the ranks hold the same parameters");
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
          try {
            return train(prefetch, comm, 3, skip, (step, zero) -> {});
          } catch (RuntimeException e) {
            errors.add(String.format(java.util.Locale.ROOT, "%.3f ", since()) + e.getMessage());
            throw e;
          }
        });
  }

  /** Trains the chain for {@code steps} steps; returns the full parameters after the last. */
  private static List<Tensor> train(
      long prefetch,
      org.zero4j.zero.comm.Collectives comm,
      int steps,
      Skip skip,
      java.util.function.BiConsumer<Integer, Stage3Optimizer> afterStep) {
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
      for (int step = 1; step <= steps; step++) {
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
        afterStep.accept(step, zero);
      }
      return zero.fullParameters();
    }
  }
}
