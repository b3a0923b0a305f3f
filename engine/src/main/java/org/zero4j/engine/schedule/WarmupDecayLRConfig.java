package org.zero4j.engine.schedule;

/**
 * The {@code scheduler.params} of type {@code WarmupDecayLR}, with DeepSpeed's defaults.
 *
 * @param totalNumSteps {@code total_num_steps}: step at which the lr is back at warmup_min_lr
 *     (required)
 * @param warmupMinLr {@code warmup_min_lr}: lr at the start of warm-up and the end (default 0)
 * @param warmupMaxLr {@code warmup_max_lr}: lr after warm-up (default 0.001, not the optimizer's
 *     lr)
 * @param warmupNumSteps {@code warmup_num_steps}: warm-up steps, > 0 (default 1000)
 * @param warmupType {@code warmup_type}: log or linear (default log)
 */
public record WarmupDecayLRConfig(
    long totalNumSteps,
    double warmupMinLr,
    double warmupMaxLr,
    int warmupNumSteps,
    WarmupType warmupType)
    implements SchedulerConfig {

  public WarmupDecayLRConfig {
    WarmupChecks.positiveSteps(warmupNumSteps);
    WarmupChecks.positiveTotal(totalNumSteps);
  }

  @Override
  public String type() {
    return "WarmupDecayLR";
  }

  @Override
  public LrSchedule build(double baseLr) {
    return new WarmupDecayLR(warmupMinLr, warmupMaxLr, warmupNumSteps, warmupType, totalNumSteps);
  }
}
