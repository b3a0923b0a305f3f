package org.zero4j.engine.schedule;

/**
 * The {@code scheduler.params} of type {@code WarmupLR}, with DeepSpeed's defaults.
 *
 * @param warmupMinLr {@code warmup_min_lr}: lr at the start of warm-up (default 0)
 * @param warmupMaxLr {@code warmup_max_lr}: lr after warm-up, or null for the optimizer's lr
 * @param warmupNumSteps {@code warmup_num_steps}: warm-up steps, > 0 (default 1000; below 2 acts as
 *     2)
 * @param warmupType {@code warmup_type}: log or linear (default log)
 */
public record WarmupLRConfig(
    double warmupMinLr, Double warmupMaxLr, int warmupNumSteps, WarmupType warmupType)
    implements SchedulerConfig {

  public WarmupLRConfig {
    WarmupChecks.positiveSteps(warmupNumSteps);
  }

  @Override
  public String type() {
    return "WarmupLR";
  }

  @Override
  public LrSchedule build(double baseLr) {
    return new WarmupLR(
        warmupMinLr, warmupMaxLr != null ? warmupMaxLr : baseLr, warmupNumSteps, warmupType);
  }
}
