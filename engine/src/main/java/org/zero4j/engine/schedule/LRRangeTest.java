package org.zero4j.engine.schedule;

/**
 * DeepSpeed's {@code LRRangeTest}: lr grows from {@code lr_range_test_min_lr} by {@code
 * lr_range_test_step_rate} every {@code lr_range_test_step_size} steps.
 *
 * <p>lr = min_lr * (1 + rate * n), where n = step / size, floored when {@code
 * lr_range_test_staircase} is set (DeepSpeed's (last_batch_iteration + 1) / size with i = step -
 * 1).
 */
public final class LRRangeTest implements LrSchedule {
  private final double minLr;
  private final long stepSize;
  private final double stepRate;
  private final boolean staircase;

  public LRRangeTest(double minLr, long stepSize, double stepRate, boolean staircase) {
    this.minLr = minLr;
    this.stepSize = stepSize;
    this.stepRate = stepRate;
    this.staircase = staircase;
  }

  @Override
  public double lrAt(long step) {
    double interval = (double) step / stepSize;
    if (staircase) {
      interval = Math.floor(interval);
    }
    return minLr * (1 + stepRate * interval);
  }
}
