package org.zero4j.engine.schedule;

/**
 * The {@code scheduler.params} of type {@code OneCycle}, with DeepSpeed's defaults.
 *
 * @param cycleMinLr {@code cycle_min_lr}: lr at the start and end of the cycle (required)
 * @param cycleMaxLr {@code cycle_max_lr}: lr at the peak of the cycle (required)
 * @param decayLrRate {@code decay_lr_rate}: post-cycle lr decay rate (default 0)
 * @param cycleFirstStepSize {@code cycle_first_step_size}: steps of the rising half, > 0 (default
 *     2000)
 * @param cycleSecondStepSize {@code cycle_second_step_size}: steps of the falling half, >= 0, or
 *     null for the first half's size
 * @param cycleFirstStairCount {@code cycle_first_stair_count}: stairs in the rising half, 0 for a
 *     continuous ramp (default 0)
 * @param cycleSecondStairCount {@code cycle_second_stair_count}: stairs in the falling half, or
 *     null for the first half's count
 * @param decayStepSize {@code decay_step_size}: post-cycle decay interval, 0 for no decay (default
 *     0)
 * @param cycleMomentum {@code cycle_momentum}: cycle Adam's beta1 inversely to the lr (default
 *     true)
 * @param cycleMinMom {@code cycle_min_mom}: beta1 at the lr peak (default 0.8)
 * @param cycleMaxMom {@code cycle_max_mom}: beta1 at the cycle ends (default 0.9)
 * @param decayMomRate {@code decay_mom_rate}: post-cycle beta1 growth rate (default 0)
 */
public record OneCycleConfig(
    double cycleMinLr,
    double cycleMaxLr,
    double decayLrRate,
    double cycleFirstStepSize,
    Double cycleSecondStepSize,
    int cycleFirstStairCount,
    Integer cycleSecondStairCount,
    double decayStepSize,
    boolean cycleMomentum,
    double cycleMinMom,
    double cycleMaxMom,
    double decayMomRate)
    implements SchedulerConfig {

  private static final String KEY = "scheduler.params.";

  public OneCycleConfig {
    if (!(cycleFirstStepSize > 0)) {
      throw new IllegalArgumentException(
          KEY + "cycle_first_step_size must be > 0, got " + cycleFirstStepSize);
    }
    if (cycleSecondStepSize != null && !(cycleSecondStepSize >= 0)) {
      throw new IllegalArgumentException(
          KEY + "cycle_second_step_size must be >= 0, got " + cycleSecondStepSize);
    }
    if (decayStepSize < 0) {
      throw new IllegalArgumentException(
          KEY + "decay_step_size must be >= 0, got " + decayStepSize);
    }
    if (cycleMomentum) {
      for (double m : new double[] {cycleMinMom, cycleMaxMom}) {
        if (!(m >= 0 && m < 1)) {
          throw new IllegalArgumentException(
              KEY
                  + "cycle_min_mom and cycle_max_mom are Adam's beta1 with cycle_momentum and must"
                  + " be in [0, 1), got "
                  + m);
        }
      }
    }
  }

  @Override
  public String type() {
    return "OneCycle";
  }

  @Override
  public LrSchedule build(double baseLr) {
    return new OneCycle(this);
  }
}
