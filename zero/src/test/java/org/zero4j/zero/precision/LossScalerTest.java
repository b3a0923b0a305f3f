package org.zero4j.zero.precision;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Scale trajectories worked out by hand from DeepSpeed's DynamicLossScaler rules. */
class LossScalerTest {

  private static double[] run(LossScaler s, String pattern) {
    double[] out = new double[pattern.length() + 1];
    out[0] = s.scale();
    for (int i = 0; i < pattern.length(); i++) {
      s.update(pattern.charAt(i) == 'X');
      out[i + 1] = s.scale();
    }
    return out;
  }

  @Test
  void doublesEveryWindowCleanIterations() {
    // window 2: iterations 1, 3, 5 satisfy (iter - (-1)) % 2 == 0.
    double[] got = run(LossScaler.dynamic(4, 2, 1, false, 1), "......");
    assertEquals(16, got[0]);
    assertEquals(16, got[1]);
    assertEquals(32, got[2]);
    assertEquals(32, got[3]);
    assertEquals(64, got[4]);
    assertEquals(128, got[6]);
  }

  @Test
  void hysteresisDelaysTheHalving() {
    // hysteresis 2: first overflow uses up hysteresis, the second halves.
    double[] got = run(LossScaler.dynamic(10, 100, 2, false, 1), "XXX");
    assertEquals(1024, got[1]);
    assertEquals(512, got[2]);
    assertEquals(256, got[3]); // hysteresis stays at 1 until a window passes
  }

  @Test
  void consecutiveHysteresisResetsOnEveryCleanStep() {
    double[] plain = run(LossScaler.dynamic(10, 100, 2, false, 1), "X.X");
    double[] consecutive = run(LossScaler.dynamic(10, 100, 2, true, 1), "X.X");
    assertEquals(512, plain[3], "non-consecutive: the second overflow halves");
    assertEquals(1024, consecutive[3], "consecutive: the clean step restored the hysteresis");
  }

  @Test
  void windowCountsFromTheLastOverflow() {
    // hysteresis 1, window 3: X at iter 0 -> 128; clean iters 1, 2, 3; (3 - 0) % 3 == 0 doubles.
    double[] got = run(LossScaler.dynamic(8, 3, 1, false, 1), "X...");
    assertEquals(128, got[1]);
    assertEquals(128, got[3]);
    assertEquals(256, got[4]);
  }

  @Test
  void floorAndErrorAtMinimum() {
    LossScaler s = LossScaler.dynamic(2, 1000, 1, false, 2);
    s.update(true);
    assertEquals(2, s.scale());
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> s.update(true));
    assertTrue(e.getMessage().contains("min_loss_scale"), e.getMessage());
  }

  @Test
  void staticScaleNeverMovesAndStateRoundTrips() {
    LossScaler s = LossScaler.fixed(128);
    run(s, "X..X....");
    assertEquals(128, s.scale());
    LossScaler d = LossScaler.dynamic(5, 3, 2, false, 1);
    run(d, "X..X.");
    LossScaler copy = LossScaler.dynamic(5, 3, 2, false, 1);
    copy.restore(d.state());
    assertEquals(run(d, "..X..X"), run(copy, "..X..X"));
  }
}
