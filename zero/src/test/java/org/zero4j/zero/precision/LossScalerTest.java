package org.zero4j.zero.precision;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Scale trajectories worked out by hand from DeepSpeed's {@code DynamicLossScaler.update_scale}.
 * Events are written as a string: {@code O} an overflowing step, {@code C} a clean one.
 */
class LossScalerTest {

  @Test
  void doublesOnTheStepAfterEachFullWindowOfCleanSteps() {
    LossScaler s = LossScaler.dynamic(0, 2, 1, false, 1);
    // stable = 0, 1, 2 (double), 3, 4 (double)
    assertArrayEquals(new double[] {1, 1, 2, 2, 4}, run(s, "CCCCC"));
  }

  @Test
  void halvesWithoutHysteresisAndCountsTheWindowFromTheLastOverflow() {
    LossScaler s = LossScaler.dynamic(4, 3, 1, false, 1);
    double[] expected = {16, 16, 16, 32, 16, 16, 16, 16, 32, 32, 32, 64};
    assertArrayEquals(expected, run(s, "CCCCOCCCCCCC"));
    assertEquals(12, s.curIter());
    assertEquals(4, s.lastOverflowIter());
  }

  @Test
  void hysteresisDelaysTheFirstHalvingAndIsRefilledOnlyByADoubling() {
    LossScaler s = LossScaler.dynamic(3, 2, 2, false, 1, false);
    String events = "OOOCOCCCOCO";
    double[] scales = new double[events.length()];
    int[] hysteresis = new int[events.length()];
    boolean[] skips = new boolean[events.length()];
    for (int i = 0; i < events.length(); i++) {
      skips[i] = s.update(events.charAt(i) == 'O');
      scales[i] = s.scale();
      hysteresis[i] = s.curHysteresis();
    }
    assertArrayEquals(new double[] {8, 4, 2, 2, 1, 1, 1, 2, 2, 2, 1}, scales);
    assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1}, hysteresis);
    for (int i = 0; i < events.length(); i++) {
      assertEquals(events.charAt(i) == 'O', skips[i], "step " + i);
    }
    assertEquals(11, s.curIter());
    assertEquals(10, s.lastOverflowIter());
  }

  @Test
  void consecutiveHysteresisRefillsOnEveryCleanStep() {
    String events = "OCOCOOOCO";
    LossScaler consecutive = LossScaler.dynamic(3, 100, 2, true, 0.25);
    assertArrayEquals(new double[] {8, 8, 8, 8, 8, 4, 2, 2, 2}, run(consecutive, events));
    LossScaler plain = LossScaler.dynamic(3, 100, 2, false, 0.25);
    assertArrayEquals(new double[] {8, 8, 4, 4, 2, 1, 0.5, 0.5, 0.25}, run(plain, events));
  }

  @Test
  void floorClampsAndThenRaisesUnlessToldNotTo() {
    LossScaler lenient = LossScaler.dynamic(2, 1000, 1, false, 1.5, false);
    assertArrayEquals(new double[] {2, 1.5, 1.5, 1.5}, run(lenient, "OOOO"));

    LossScaler strict = LossScaler.dynamic(2, 1000, 1, false, 1.5);
    assertArrayEquals(new double[] {2, 1.5}, run(strict, "OO"));
    LossScaler.State before = strict.state();
    LossScaler.MinScaleReachedException e =
        assertThrows(LossScaler.MinScaleReachedException.class, () -> strict.update(true));
    assertTrue(e.getMessage().contains("fp16.min_loss_scale 1.5"), e.getMessage());
    assertEquals(before, strict.state());
    assertFalse(strict.update(false));
  }

  @Test
  void staticScaleNeverMovesButSkipsOverflowingSteps() {
    LossScaler s = LossScaler.fixed(1024);
    String events = "OCOOCCCCCCCCCCCCO";
    boolean[] skips = new boolean[events.length()];
    for (int i = 0; i < events.length(); i++) {
      skips[i] = s.update(events.charAt(i) == 'O');
      assertEquals(1024, s.scale());
      assertEquals(events.charAt(i) == 'O', skips[i]);
    }
    assertFalse(s.isDynamic());
  }

  @Test
  void noneHasScaleOneAndNeverSkips() {
    LossScaler s = LossScaler.none();
    assertFalse(s.update(true));
    assertFalse(s.update(false));
    assertEquals(1.0, s.scale());
  }

  @Test
  void restoredScalerContinuesTheSameTrajectory() {
    SplittableRandom random = new SplittableRandom(11);
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 400; i++) {
      sb.append(random.nextInt(10) == 0 ? 'O' : 'C');
    }
    String events = sb.toString();
    LossScaler original = LossScaler.dynamic(4, 7, 3, false, 1, false);
    run(original, events.substring(0, 157));
    LossScaler resumed = LossScaler.dynamic(4, 7, 3, false, 1, false);
    resumed.restore(original.state());
    assertEquals(157, resumed.curIter());
    double[] expected = run(original, events.substring(157));
    assertArrayEquals(expected, run(resumed, events.substring(157)));
    boolean rose = false;
    boolean fell = false;
    for (int i = 1; i < expected.length; i++) {
      rose |= expected[i] > expected[i - 1];
      fell |= expected[i] < expected[i - 1];
    }
    assertTrue(rose && fell, "the tail should both raise and lower the scale");
    assertEquals(original.state(), resumed.state());
  }

  @Test
  void invalidSettingsNameTheirKey() {
    assertKey(() -> LossScaler.dynamic(16, 0, 2, false, 1), "fp16.loss_scale_window");
    assertKey(() -> LossScaler.dynamic(16, 1000, 0, false, 1), "fp16.hysteresis");
    assertKey(() -> LossScaler.dynamic(16, 1000, 2, false, 0), "fp16.min_loss_scale");
    assertKey(() -> LossScaler.dynamic(2000, 1000, 2, false, 1), "fp16.initial_scale_power");
    assertKey(() -> LossScaler.fixed(0), "fp16.loss_scale");
    assertKey(() -> LossScaler.fixed(Double.NaN), "fp16.loss_scale");
    LossScaler fixed = LossScaler.fixed(8);
    assertKey(() -> fixed.restore(new LossScaler.State(4, 3, -1, 1)), "fp16.loss_scale");
    LossScaler dynamic = LossScaler.dynamic(4, 10, 2, false, 1);
    assertThrows(
        IllegalArgumentException.class, () -> dynamic.restore(new LossScaler.State(4, 3, 5, 1)));
    assertThrows(
        IllegalArgumentException.class, () -> dynamic.restore(new LossScaler.State(4, 3, 1, 3)));
  }

  private static double[] run(LossScaler s, String events) {
    double[] scales = new double[events.length()];
    for (int i = 0; i < scales.length; i++) {
      s.update(events.charAt(i) == 'O');
      scales[i] = s.scale();
    }
    return scales;
  }

  private static void assertKey(Runnable r, String key) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
    assertTrue(e.getMessage().contains(key), e.getMessage());
  }
}
