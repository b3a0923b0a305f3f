package org.zero4j.engine.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/**
 * Each schedule against its closed form, with expected values worked out by hand from DeepSpeed's
 * formulas. Step k is the k-th scheduler step (DeepSpeed's last_batch_iteration = k - 1); step 0 is
 * the lr DeepSpeed installs at construction.
 */
class LrScheduleTest {
  private static final double TOL = 1e-15;

  @Test
  void warmupLrLinear() {
    LrSchedule s = new WarmupLRConfig(0.0, 1.0, 4, WarmupType.LINEAR).build(99);
    double[] expected = {0, 0, 0.25, 0.5, 0.75, 1, 1};
    for (int k = 0; k < expected.length; k++) {
      assertEquals(expected[k], s.lrAt(k), TOL, "step " + k);
    }
    assertEquals(1.0, s.lrAt(1_000_000), TOL);
  }

  @Test
  void warmupLrLogUsesOptimizerLrWhenMaxAbsent() {
    double min = 1e-4;
    double max = 1e-2;
    LrSchedule s = new WarmupLRConfig(min, null, 10, WarmupType.LOG).build(max);
    assertEquals(min, s.lrAt(0), TOL);
    assertEquals(min, s.lrAt(1), TOL); // ln(1) = 0
    assertEquals(min + (max - min) * Math.log(5) / Math.log(10), s.lrAt(5), TOL);
    assertEquals(max, s.lrAt(10), TOL); // ln(10) / ln(10)
    assertEquals(max, s.lrAt(11), TOL);
    assertEquals(max, s.lrAt(5000), TOL);
  }

  @Test
  void warmupOfOneStepActsAsTwo() {
    LrSchedule s = new WarmupLRConfig(0.0, 1.0, 1, WarmupType.LINEAR).build(0);
    assertEquals(0.0, s.lrAt(1), TOL);
    assertEquals(0.5, s.lrAt(2), TOL);
    assertEquals(1.0, s.lrAt(3), TOL);
  }

  @Test
  void warmupDecayLrLinear() {
    LrSchedule s = new WarmupDecayLRConfig(10, 0.0, 1.0, 4, WarmupType.LINEAR).build(99);
    assertEquals(0.0, s.lrAt(0), TOL);
    assertEquals(0.75, s.lrAt(4), TOL); // end of warm-up: iteration 3 of 4
    assertEquals(1.0, s.lrAt(5), TOL); // (10 - 4) / (10 - 4)
    assertEquals(0.5, s.lrAt(8), TOL); // (10 - 7) / 6
    assertEquals(1.0 / 6, s.lrAt(10), TOL);
    assertEquals(0.0, s.lrAt(11), TOL);
    assertEquals(0.0, s.lrAt(50), TOL);
  }

  @Test
  void warmupDecayLrWithMinLr() {
    LrSchedule s = new WarmupDecayLRConfig(10, 0.2, 1.0, 4, WarmupType.LINEAR).build(99);
    assertEquals(0.2 + 0.8 * 0.5, s.lrAt(8), TOL);
    assertEquals(0.2, s.lrAt(11), TOL);
  }

  @Test
  void warmupCosineLr() {
    double base = 2.0;
    LrSchedule s = new WarmupCosineLRConfig(10, 0.1, 4, 0.2, WarmupType.LINEAR).build(base);
    assertEquals(0.0, s.lrAt(0), TOL);
    assertEquals(base * 0.1, s.lrAt(1), TOL);
    assertEquals(base * (0.1 + 0.5 * 0.9), s.lrAt(3), TOL);
    assertEquals(base * (0.1 + 0.75 * 0.9), s.lrAt(4), TOL);
    assertEquals(base * (0.2 + 0.8 * (1 + Math.cos(Math.PI / 6)) / 2), s.lrAt(5), TOL);
    assertEquals(base * (0.2 + 0.8 * 0.5), s.lrAt(7), TOL); // progress 3/6, cos(pi/2) = 0
    assertEquals(base * 0.2, s.lrAt(10), TOL);
    assertEquals(base * 0.2, s.lrAt(500), TOL);
  }

  @Test
  void lrRangeTestContinuousAndStaircase() {
    LrSchedule c = new LRRangeTestConfig(0.01, 10, 2.0, false).build(99);
    assertEquals(0.01, c.lrAt(0), TOL);
    assertEquals(0.02, c.lrAt(5), TOL);
    assertEquals(0.06, c.lrAt(25), TOL);
    LrSchedule s = new LRRangeTestConfig(0.01, 10, 2.0, true).build(99);
    assertEquals(0.01, s.lrAt(9), TOL);
    assertEquals(0.03, s.lrAt(10), TOL);
    assertEquals(0.05, s.lrAt(25), TOL);
  }

  private static OneCycleConfig oneCycle(
      int firstStairs, Integer secondStairs, double decayMomRate, boolean momentum) {
    return new OneCycleConfig(
        0.1, 1.0, 0.5, 4, 6.0, firstStairs, secondStairs, 2, momentum, 0.8, 0.9, decayMomRate);
  }

  @Test
  void oneCycleLrAndMomentum() {
    LrSchedule s = oneCycle(0, null, 0.01, true).build(99);
    // step: lr, beta1
    assertEquals(0.1, s.lrAt(0), TOL);
    assertEquals(0.8, s.beta1At(0).getAsDouble(), TOL); // DeepSpeed's constructor installs min_mom
    assertEquals(0.55, s.lrAt(2), TOL); // scale 0.5
    assertEquals(0.85, s.beta1At(2).getAsDouble(), TOL);
    assertEquals(1.0, s.lrAt(4), TOL); // peak
    assertEquals(0.8, s.beta1At(4).getAsDouble(), TOL);
    assertEquals(0.55, s.lrAt(7), TOL); // (0.7 - 1) / (0.4 - 1) = 0.5
    assertEquals(0.85, s.beta1At(7).getAsDouble(), TOL);
    assertEquals(0.1, s.lrAt(10), 1e-12); // next cycle would start: scale 0
    assertEquals(0.9, s.beta1At(10).getAsDouble(), 1e-12);
    assertEquals(0.1 / (1 + 0.5 * 0.5), s.lrAt(11), TOL); // decay interval 1/2
    assertEquals(0.9 * (1 + 0.01 * 0.5), s.beta1At(11).getAsDouble(), TOL);
    assertEquals(0.1 / (1 + 0.5 * 2.5), s.lrAt(15), TOL);
    assertEquals(0.9 * (1 + 0.01 * 2.5), s.beta1At(15).getAsDouble(), TOL);
    assertEquals(0.99, s.beta2At(3).getAsDouble());
  }

  @Test
  void oneCycleStairs() {
    LrSchedule s = oneCycle(2, 3, 0, true).build(99);
    assertEquals(0.1 + 0.9 * 0.5, s.lrAt(3), TOL); // floor(3 * 2 / 4) / 2
    assertEquals(0.1 + 0.9 * 2.0 / 3, s.lrAt(6), TOL); // floor((10 - 6) * 3 / 6) / 3
    assertEquals(0.1 + 0.9 / 3, s.lrAt(8), TOL); // floor((10 - 8) * 3 / 6) / 3
    assertEquals(0.1 / (1 + 0.5 * 5), s.lrAt(20), TOL); // decay interval 10 / 2
    assertEquals(0.9, s.beta1At(20).getAsDouble(), TOL); // decay_mom_rate 0: held at max_mom
  }

  @Test
  void oneCycleWithoutMomentumLeavesBetasAlone() {
    LrSchedule s = oneCycle(0, null, 0, false).build(99);
    assertFalse(s.beta1At(3).isPresent());
    assertFalse(s.beta2At(3).isPresent());
  }

  @Test
  void rangeChecksNameTheKey() {
    assertEquals(
        "scheduler.params.warmup_num_steps must be a positive integer, got 0 (DeepSpeed rejects"
            + " 0; with \"auto\" pass AutoValues.warmupSteps)",
        assertThrows(
                IllegalArgumentException.class, () -> new WarmupLRConfig(0, 1.0, 0, WarmupType.LOG))
            .getMessage());
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> new OneCycleConfig(0.1, 1, 0, 0, null, 0, null, 0, true, 0.8, 0.9, 0));
    assertEquals("scheduler.params.cycle_first_step_size must be > 0, got 0.0", e.getMessage());
  }
}
