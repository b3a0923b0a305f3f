package org.zero4j.engine.schedule;

/**
 * The {@code scheduler.params} of type {@code WarmupCosineLR}, with DeepSpeed's defaults. The lr is
 * the optimizer's lr times a ratio.
 *
 * @param totalNumSteps {@code total_num_steps}: step at which the cosine reaches cos_min_ratio
 *     (required)
 * @param warmupMinRatio {@code warmup_min_ratio}: ratio at the start of warm-up (default 0)
 * @param warmupNumSteps {@code warmup_num_steps}: warm-up steps, > 0 (default 1000)
 * @param cosMinRatio {@code cos_min_ratio}: ratio at the end (default 0.0001)
 * @param warmupType {@code warmup_type}: log or linear (default log)
 */
public record WarmupCosineLRConfig(
    long totalNumSteps,
    double warmupMinRatio,
    int warmupNumSteps,
    double cosMinRatio,
    WarmupType warmupType)
    implements SchedulerConfig {

  public WarmupCosineLRConfig {
    WarmupChecks.positiveSteps(warmupNumSteps);
    WarmupChecks.positiveTotal(totalNumSteps);
  }

  @Override
  public String type() {
    return "WarmupCosineLR";
  }

  @Override
  public LrSchedule build(double baseLr) {
    return new WarmupCosineLR(
        baseLr, totalNumSteps, warmupMinRatio, warmupNumSteps, cosMinRatio, warmupType);
  }
}
