package org.zero4j.engine.schedule;

/**
 * DeepSpeed's {@code WarmupLR}: rises from {@code warmup_min_lr} to {@code warmup_max_lr} over
 * {@code warmup_num_steps} (at least 2) steps, then stays at {@code warmup_max_lr}.
 *
 * <p>With i = step - 1 (DeepSpeed's last batch iteration) and W = max(2, warmup_num_steps): lr =
 * min for i < 0, min + (max - min) * gamma(i) for i < W, else max.
 */
public final class WarmupLR implements LrSchedule {
  final double minLr;
  final double maxLr;
  final int warmupSteps;
  final WarmupType type;

  public WarmupLR(double minLr, double maxLr, int warmupNumSteps, WarmupType type) {
    this.minLr = minLr;
    this.maxLr = maxLr;
    this.warmupSteps = Math.max(2, warmupNumSteps);
    this.type = type;
  }

  @Override
  public double lrAt(long step) {
    long it = step - 1;
    if (it < 0) {
      return minLr;
    }
    return minLr + (maxLr - minLr) * gamma(it);
  }

  /** The fraction of the way from min to max at scheduler iteration {@code it} >= 0. */
  double gamma(long it) {
    return it < warmupSteps ? type.gamma(it, warmupSteps) : 1.0;
  }
}
