package org.zero4j.engine.schedule;

/**
 * DeepSpeed's {@code WarmupDecayLR}: {@link WarmupLR}'s warm-up, then a linear decay that reaches
 * {@code warmup_min_lr} at {@code total_num_steps}.
 *
 * <p>After warm-up (i >= W) gamma = max(0, (T - i) / max(1, T - W)), with i = step - 1 and T =
 * total_num_steps.
 */
public final class WarmupDecayLR implements LrSchedule {
  private final WarmupLR warmup;
  private final long totalSteps;

  public WarmupDecayLR(
      double minLr, double maxLr, int warmupNumSteps, WarmupType type, long totalNumSteps) {
    this.warmup = new WarmupLR(minLr, maxLr, warmupNumSteps, type);
    this.totalSteps = totalNumSteps;
  }

  @Override
  public double lrAt(long step) {
    long it = step - 1;
    if (it < 0) {
      return warmup.minLr;
    }
    double gamma;
    if (it < warmup.warmupSteps) {
      gamma = warmup.gamma(it);
    } else {
      gamma =
          Math.max(
              0.0, (double) (totalSteps - it) / Math.max(1.0, totalSteps - warmup.warmupSteps));
    }
    return warmup.minLr + (warmup.maxLr - warmup.minLr) * gamma;
  }
}
