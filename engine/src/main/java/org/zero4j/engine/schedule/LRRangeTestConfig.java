package org.zero4j.engine.schedule;

/**
 * The {@code scheduler.params} of type {@code LRRangeTest}, with DeepSpeed's defaults.
 *
 * @param minLr {@code lr_range_test_min_lr}: starting lr (default 0.001)
 * @param stepSize {@code lr_range_test_step_size}: steps per increase, > 0 (default 2000)
 * @param stepRate {@code lr_range_test_step_rate}: growth per interval (default 1.0)
 * @param staircase {@code lr_range_test_staircase}: grow in steps rather than continuously (default
 *     false)
 */
public record LRRangeTestConfig(double minLr, long stepSize, double stepRate, boolean staircase)
    implements SchedulerConfig {

  public LRRangeTestConfig {
    if (stepSize <= 0) {
      throw new IllegalArgumentException(
          "scheduler.params.lr_range_test_step_size must be a positive integer, got " + stepSize);
    }
  }

  @Override
  public String type() {
    return "LRRangeTest";
  }

  @Override
  public LrSchedule build(double baseLr) {
    return new LRRangeTest(minLr, stepSize, stepRate, staircase);
  }
}
