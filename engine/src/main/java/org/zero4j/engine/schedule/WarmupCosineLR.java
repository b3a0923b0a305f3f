package org.zero4j.engine.schedule;

/**
 * DeepSpeed's {@code WarmupCosineLR}: the optimizer's lr times a ratio that warms up from {@code
 * warmup_min_ratio} to 1, then follows a half cosine down to {@code cos_min_ratio} at {@code
 * total_num_steps}.
 *
 * <p>With i = step - 1, W = max(2, warmup_num_steps), T = total_num_steps: ratio = 0 for i < 0 (so
 * the first optimizer step runs at lr 0, as in DeepSpeed); wmr + (1 - wmr) * gamma(i) for i < W;
 * else with p = min(1, (i - W + 1) / max(1, T - W)), ratio = max(0, cmr + (1 - cmr) * (1 + cos(pi
 * p)) / 2).
 */
public final class WarmupCosineLR implements LrSchedule {
  private final double baseLr;
  private final long totalSteps;
  private final double warmupMinRatio;
  private final int warmupSteps;
  private final double cosMinRatio;
  private final WarmupType type;

  public WarmupCosineLR(
      double baseLr,
      long totalNumSteps,
      double warmupMinRatio,
      int warmupNumSteps,
      double cosMinRatio,
      WarmupType type) {
    this.baseLr = baseLr;
    this.totalSteps = totalNumSteps;
    this.warmupMinRatio = warmupMinRatio;
    this.warmupSteps = Math.max(2, warmupNumSteps);
    this.cosMinRatio = cosMinRatio;
    this.type = type;
  }

  @Override
  public double lrAt(long step) {
    return baseLr * ratio(step - 1);
  }

  private double ratio(long it) {
    if (it < 0) {
      return 0.0;
    }
    if (it < warmupSteps) {
      return warmupMinRatio + type.gamma(it, warmupSteps) * (1.0 - warmupMinRatio);
    }
    double progress =
        Math.min(1.0, (double) (it - warmupSteps + 1) / Math.max(1, totalSteps - warmupSteps));
    return Math.max(
        0.0, cosMinRatio + (1.0 - cosMinRatio) * (1 + Math.cos(Math.PI * progress)) / 2);
  }
}
