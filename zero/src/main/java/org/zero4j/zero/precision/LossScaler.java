package org.zero4j.zero.precision;

/**
 * DeepSpeed's loss scaler: the factor the loss is multiplied by before backward, and the decision
 * whether a step whose gradients overflowed must be skipped.
 *
 * <p>Three kinds, chosen from the config the way DeepSpeed's ZeRO optimizer does:
 *
 * <ul>
 *   <li>{@link #dynamic}: {@code fp16.enabled} with {@code fp16.loss_scale} 0 (DeepSpeed's {@code
 *       DynamicLossScaler}). The scale starts at {@code 2^initial_scale_power}. On an overflow the
 *       step is skipped and, once {@code hysteresis} overflows have been absorbed, the scale is
 *       halved (never below {@code min_loss_scale}). After {@code loss_scale_window} clean steps in
 *       a row the scale doubles, with no upper bound.
 *   <li>{@link #fixed}: {@code fp16.loss_scale} &gt; 0, or bf16 with {@code check_grad_overflow}
 *       (scale 1). The scale never changes, but an overflowing step is still skipped.
 *   <li>{@link #none}: fp32 (DeepSpeed checks no overflow there). Scale 1, nothing is ever skipped.
 * </ul>
 *
 * <p>Dynamic rules, exactly as {@code DynamicLossScaler.update_scale}: every {@link #update} ends
 * by incrementing {@code curIter}. On overflow: if {@code hysteresis == 1} or {@code curHysteresis
 * == 1} the scale becomes {@code max(scale / 2, minScale)}, else {@code curHysteresis} drops by
 * one; either way {@code lastOverflowIter = curIter}. Halving does not refill {@code
 * curHysteresis}, so later overflows halve at once until it is refilled. On a clean step: with
 * {@code consecutive_hysteresis}, {@code curHysteresis} is refilled to {@code hysteresis}; then
 * with {@code stable = curIter - lastOverflowIter - 1}, if {@code stable > 0} and {@code stable %
 * window == 0} the scale doubles (and without {@code consecutive_hysteresis}, {@code curHysteresis}
 * is refilled). So the first doubling comes on the ({@code window}+1)-th clean step.
 *
 * <p>At the floor: an overflow that would halve a scale already equal to {@code minScale} throws
 * {@link MinScaleReachedException} (DeepSpeed's {@code raise_error_at_min_scale}, which its ZeRO
 * optimizers always leave on), unless the scaler was built with {@code raiseAtMinScale = false};
 * then the scale stays at the floor and the step is skipped. The exception leaves the state as it
 * was before the call.
 */
public final class LossScaler {
  private static final double SCALE_FACTOR = 2.0;

  private final boolean dynamic;
  private final boolean skipsOverflow;
  private final int window;
  private final int hysteresis;
  private final boolean consecutiveHysteresis;
  private final double minScale;
  private final boolean raiseAtMinScale;

  private double scale;
  private long curIter;
  private long lastOverflowIter = -1;
  private int curHysteresis;

  private LossScaler(
      boolean dynamic,
      boolean skipsOverflow,
      double scale,
      int window,
      int hysteresis,
      boolean consecutiveHysteresis,
      double minScale,
      boolean raiseAtMinScale) {
    this.dynamic = dynamic;
    this.skipsOverflow = skipsOverflow;
    this.scale = scale;
    this.window = window;
    this.hysteresis = hysteresis;
    this.curHysteresis = hysteresis;
    this.consecutiveHysteresis = consecutiveHysteresis;
    this.minScale = minScale;
    this.raiseAtMinScale = raiseAtMinScale;
  }

  /**
   * A dynamic scaler that throws {@link MinScaleReachedException} at the floor, as DeepSpeed does.
   *
   * @param initialScalePower {@code fp16.initial_scale_power}: the scale starts at 2^this
   * @param window {@code fp16.loss_scale_window}: clean steps between doublings, &gt; 0
   * @param hysteresis {@code fp16.hysteresis}: overflows absorbed before a halving, &ge; 1
   * @param consecutiveHysteresis {@code fp16.consecutive_hysteresis}: refill on every clean step
   * @param minScale {@code fp16.min_loss_scale}: the floor, &gt; 0
   */
  public static LossScaler dynamic(
      int initialScalePower,
      int window,
      int hysteresis,
      boolean consecutiveHysteresis,
      double minScale) {
    return dynamic(initialScalePower, window, hysteresis, consecutiveHysteresis, minScale, true);
  }

  /** As {@link #dynamic(int, int, int, boolean, double)}, choosing the behaviour at the floor. */
  public static LossScaler dynamic(
      int initialScalePower,
      int window,
      int hysteresis,
      boolean consecutiveHysteresis,
      double minScale,
      boolean raiseAtMinScale) {
    double initial = Math.scalb(1.0, initialScalePower);
    if (initial == 0.0 || Double.isInfinite(initial)) {
      throw new IllegalArgumentException(
          "fp16.initial_scale_power "
              + initialScalePower
              + " gives a loss scale outside the double range; use a power in [-1074, 1023]"
              + " (16 is DeepSpeed's default)");
    }
    if (window <= 0) {
      throw new IllegalArgumentException(
          "fp16.loss_scale_window must be > 0 when dynamic loss scaling is enabled"
              + " (loss_scale 0), got "
              + window);
    }
    if (hysteresis < 1) {
      throw new IllegalArgumentException(
          "fp16.hysteresis must be >= 1, got "
              + hysteresis
              + "; with less the loss scale would never decrease (DeepSpeed's default is 2)");
    }
    if (!(minScale > 0) || Double.isInfinite(minScale)) {
      throw new IllegalArgumentException(
          "fp16.min_loss_scale must be a finite number > 0 when dynamic loss scaling is enabled"
              + " (loss_scale 0), got "
              + minScale);
    }
    return new LossScaler(
        true, true, initial, window, hysteresis, consecutiveHysteresis, minScale, raiseAtMinScale);
  }

  /** A static scale ({@code fp16.loss_scale} &gt; 0); overflowing steps are still skipped. */
  public static LossScaler fixed(double scale) {
    if (!(scale > 0) || Double.isInfinite(scale)) {
      throw new IllegalArgumentException(
          "fp16.loss_scale must be a finite number > 0 for a static scale (0 selects dynamic"
              + " scaling), got "
              + scale);
    }
    return new LossScaler(false, true, scale, 1, 1, false, scale, false);
  }

  /** No scaling (fp32): scale 1 and {@link #update} never asks for a skip. */
  public static LossScaler none() {
    return new LossScaler(false, false, 1.0, 1, 1, false, 1.0, false);
  }

  /** The factor to multiply the loss by before backward (and to divide the gradients by). */
  public double scale() {
    return scale;
  }

  /** Whether the scale moves with overflows. */
  public boolean isDynamic() {
    return dynamic;
  }

  /**
   * Records the outcome of one optimizer step and moves the scale. Call it once per step, with
   * {@code overflow} true when any gradient (on any rank) held an inf or NaN.
   *
   * @return whether the step must be skipped (its gradients discarded, parameters unchanged)
   * @throws MinScaleReachedException if a dynamic scaler must halve a scale already at the floor
   */
  public boolean update(boolean overflow) {
    if (dynamic) {
      if (overflow) {
        onOverflow();
      } else {
        onCleanStep();
      }
    }
    curIter++;
    return overflow && skipsOverflow;
  }

  private void onOverflow() {
    if (hysteresis == 1 || curHysteresis == 1) {
      if (scale == minScale && raiseAtMinScale) {
        throw new MinScaleReachedException(scale, curIter);
      }
      scale = Math.max(scale / SCALE_FACTOR, minScale);
    } else {
      curHysteresis--;
    }
    lastOverflowIter = curIter;
  }

  private void onCleanStep() {
    if (consecutiveHysteresis) {
      curHysteresis = hysteresis;
    }
    long stable = curIter - lastOverflowIter - 1;
    if (stable > 0 && stable % window == 0) {
      if (!consecutiveHysteresis) {
        curHysteresis = hysteresis;
      }
      scale *= SCALE_FACTOR;
    }
  }

  /** Number of {@link #update} calls so far (DeepSpeed's {@code cur_iter}). */
  public long curIter() {
    return curIter;
  }

  /**
   * The {@link #curIter} of the last overflow, -1 if none (DeepSpeed's {@code last_overflow_iter}).
   */
  public long lastOverflowIter() {
    return lastOverflowIter;
  }

  /** Overflows still absorbed before the next halving (DeepSpeed's {@code cur_hysteresis}). */
  public int curHysteresis() {
    return curHysteresis;
  }

  /** The mutable state, for a checkpoint. */
  public State state() {
    return new State(scale, curIter, lastOverflowIter, curHysteresis);
  }

  /**
   * Resumes from a checkpointed {@link #state()} of a scaler built with the same settings. A static
   * scaler accepts only its own scale.
   */
  public void restore(State state) {
    if (!dynamic && state.scale() != scale) {
      throw new IllegalArgumentException(
          "checkpointed loss scale "
              + state.scale()
              + " does not match the static loss scale "
              + scale
              + " of this run; set fp16.loss_scale to the checkpoint's value or use dynamic"
              + " scaling");
    }
    if (!(state.scale() > 0)
        || Double.isInfinite(state.scale())
        || state.curIter() < 0
        || state.lastOverflowIter() < -1
        || state.lastOverflowIter() >= state.curIter() && state.lastOverflowIter() != -1
        || state.curHysteresis() < 1
        || state.curHysteresis() > hysteresis) {
      throw new IllegalArgumentException("inconsistent loss scaler state in checkpoint: " + state);
    }
    scale = state.scale();
    curIter = state.curIter();
    lastOverflowIter = state.lastOverflowIter();
    curHysteresis = state.curHysteresis();
  }

  /**
   * A checkpointable snapshot.
   *
   * @param scale the current loss scale ({@code cur_scale})
   * @param curIter updates so far ({@code cur_iter})
   * @param lastOverflowIter iteration of the last overflow, -1 if none ({@code last_overflow_iter})
   * @param curHysteresis overflows still absorbed before a halving ({@code cur_hysteresis})
   */
  public record State(double scale, long curIter, long lastOverflowIter, int curHysteresis) {}

  /** Thrown when a dynamic scaler would have to go below {@code fp16.min_loss_scale}. */
  public static final class MinScaleReachedException extends RuntimeException {
    MinScaleReachedException(double scale, long iter) {
      super(
          "the fp16 loss scale is already at fp16.min_loss_scale "
              + scale
              + " and step "
              + iter
              + " overflowed again; the gradients keep overflowing, so lower the learning rate,"
              + " check the data for inf/NaN, or switch to bf16");
    }
  }
}
