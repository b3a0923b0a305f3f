package org.zero4j.engine.schedule;

import java.util.OptionalDouble;

/**
 * DeepSpeed's {@code OneCycle}: one triangular cycle of the lr from {@code cycle_min_lr} up to
 * {@code cycle_max_lr} and back, then an optional decay; with {@code cycle_momentum}, Adam's beta1
 * moves the opposite way between {@code cycle_max_mom} and {@code cycle_min_mom}.
 *
 * <p>With i = step - 1 (DeepSpeed's last batch iteration), b = i + 1, total = first + second step
 * sizes, x = b / total - floor(b / total) and r = first / total: the scale is x / r while x <= r,
 * else (x - 1) / (r - 1); with a stair count n > 0 for that half, the scale is floor(position * n)
 * / n counted from the integer offset within the cycle. In the cycle (i < total) lr = min + (max -
 * min) * scale and beta1 = max_mom - (max_mom - min_mom) * scale. After it, with d = i - total + 1:
 * lr = min / (1 + decay_lr_rate * d / decay_step_size) and beta1 = max_mom * (1 + decay_mom_rate *
 * d / decay_step_size), each held at min / max_mom when its rate or the step size is 0.
 *
 * <p>Note [OneCycle momentum quirks]: as in DeepSpeed, the first optimizer step (step 0) runs with
 * beta1 = cycle_min_mom, although the formula at b = 0 gives cycle_max_mom, because DeepSpeed's
 * constructor installs the minimum; and whenever momentum is cycled beta2 is pinned to 0.99.
 */
public final class OneCycle implements LrSchedule {
  private static final double PINNED_BETA2 = 0.99;

  private final OneCycleConfig c;
  private final double totalSize;
  private final double stepRatio;
  private final double secondStepSize;
  private final int secondStairCount;
  private final boolean skipLrDecay;
  private final boolean skipMomDecay;

  public OneCycle(OneCycleConfig config) {
    this.c = config;
    double first = config.cycleFirstStepSize();
    this.secondStepSize =
        config.cycleSecondStepSize() != null ? config.cycleSecondStepSize() : first;
    this.totalSize = first + secondStepSize;
    this.stepRatio = first / totalSize;
    this.secondStairCount =
        config.cycleSecondStairCount() != null
            ? config.cycleSecondStairCount()
            : config.cycleFirstStairCount();
    boolean noDecaySteps = config.decayStepSize() == 0;
    this.skipLrDecay = noDecaySteps || config.decayLrRate() == 0;
    this.skipMomDecay = noDecaySteps || config.decayMomRate() == 0;
  }

  @Override
  public double lrAt(long step) {
    long it = step - 1;
    if (it < totalSize) {
      return c.cycleMinLr() + (c.cycleMaxLr() - c.cycleMinLr()) * scale(it);
    }
    if (skipLrDecay) {
      return c.cycleMinLr();
    }
    double d = it - totalSize + 1;
    return c.cycleMinLr() / (1 + c.decayLrRate() * d / c.decayStepSize());
  }

  @Override
  public OptionalDouble beta1At(long step) {
    if (!c.cycleMomentum()) {
      return OptionalDouble.empty();
    }
    long it = step - 1;
    if (it < 0) {
      return OptionalDouble.of(c.cycleMinMom());
    }
    if (it < totalSize) {
      return OptionalDouble.of(c.cycleMaxMom() - (c.cycleMaxMom() - c.cycleMinMom()) * scale(it));
    }
    if (skipMomDecay) {
      return OptionalDouble.of(c.cycleMaxMom());
    }
    double d = it - totalSize + 1;
    return OptionalDouble.of(c.cycleMaxMom() * (1 + c.decayMomRate() * d / c.decayStepSize()));
  }

  @Override
  public OptionalDouble beta2At(long step) {
    return c.cycleMomentum() ? OptionalDouble.of(PINNED_BETA2) : OptionalDouble.empty();
  }

  private double scale(long it) {
    double b = it + 1;
    double cycle = Math.floor(1 + b / totalSize);
    double x = 1.0 + b / totalSize - cycle;
    double scale;
    int stairs;
    if (x <= stepRatio) {
      scale = x / stepRatio;
      stairs = c.cycleFirstStairCount();
    } else {
      scale = (x - 1) / (stepRatio - 1);
      stairs = secondStairCount;
    }
    if (stairs > 0) {
      double inCycle = b % totalSize;
      double position =
          inCycle <= c.cycleFirstStepSize()
              ? inCycle * stairs / c.cycleFirstStepSize()
              : (totalSize - inCycle) * stairs / secondStepSize;
      scale = Math.floor(position) / stairs;
    }
    return scale;
  }
}
