package org.zero4j.zero.precision;

/**
 * The fp16 loss scale, with DeepSpeed's dynamic rules ({@code DynamicLossScaler}).
 *
 * <ul>
 *   <li>The scale starts at {@code 2^initial_scale_power}.
 *   <li>On an overflow the step is skipped. With {@code hysteresis} h, the scale is halved only
 *       once h overflows have been seen (each overflow before that uses up one unit of hysteresis);
 *       it never goes below {@code min_loss_scale}, and an overflow at the minimum is an error.
 *   <li>After {@code loss_scale_window} iterations since the last overflow, the scale doubles and
 *       the hysteresis is restored. With {@code consecutive_hysteresis} every clean step restores
 *       it, so only consecutive overflows count.
 * </ul>
 *
 * <p>A fixed scale ({@code loss_scale > 0}) never changes; overflowing steps are still skipped.
 */
public final class LossScaler {

  private static final double FACTOR = 2.0;

  private final boolean dynamic;
  private final int window;
  private final int hysteresis;
  private final boolean consecutiveHysteresis;
  private final double minScale;
  private double scale;
  private long curIter;
  private long lastOverflowIter = -1;
  private int curHysteresis;

  private LossScaler(
      boolean dynamic,
      double scale,
      int window,
      int hysteresis,
      boolean consecutiveHysteresis,
      double minScale) {
    this.dynamic = dynamic;
    this.scale = scale;
    this.window = window;
    this.hysteresis = hysteresis;
    this.consecutiveHysteresis = consecutiveHysteresis;
    this.minScale = minScale;
    this.curHysteresis = hysteresis;
  }

  /** DeepSpeed's dynamic scaler with the {@code fp16} block's settings. */
  public static LossScaler dynamic(
      int initialScalePower,
      int window,
      int hysteresis,
      boolean consecutiveHysteresis,
      double minScale) {
    if (window < 1) {
      throw new IllegalArgumentException("fp16.loss_scale_window must be >= 1, got " + window);
    }
    if (hysteresis < 1) {
      throw new IllegalArgumentException("fp16.hysteresis must be >= 1, got " + hysteresis);
    }
    if (!(minScale > 0)) {
      throw new IllegalArgumentException("fp16.min_loss_scale must be > 0, got " + minScale);
    }
    return new LossScaler(
        true, Math.pow(2, initialScalePower), window, hysteresis, consecutiveHysteresis, minScale);
  }

  /** A static scale ({@code fp16.loss_scale > 0}). */
  public static LossScaler fixed(double scale) {
    if (!(scale > 0) || Double.isInfinite(scale)) {
      throw new IllegalArgumentException(
          "fp16.loss_scale must be a finite number > 0, got " + scale);
    }
    return new LossScaler(false, scale, 1, 1, false, scale);
  }

  /** No scaling (fp32 and bf16): scale 1 for ever. */
  public static LossScaler none() {
    return fixed(1.0);
  }

  /** The scale the next backward multiplies the loss by. */
  public double scale() {
    return scale;
  }

  /** True if the scale adapts to overflows. */
  public boolean isDynamic() {
    return dynamic;
  }

  /**
   * Records one optimizer step's outcome and adapts the scale.
   *
   * @throws IllegalStateException on an overflow with the scale already at {@code min_loss_scale}
   */
  public void update(boolean overflow) {
    if (!dynamic) {
      curIter++;
      return;
    }
    if (overflow) {
      if (hysteresis == 1 || curHysteresis == 1) {
        if (scale == minScale) {
          throw new IllegalStateException(
              "fp16 loss scale is already at min_loss_scale "
                  + minScale
                  + " and the gradients still overflow at iteration "
                  + curIter
                  + "; the model diverged. Lower the learning rate, use bf16, or resume from the"
                  + " last checkpoint");
        }
        scale = Math.max(scale / FACTOR, minScale);
      } else {
        curHysteresis--;
      }
      lastOverflowIter = curIter;
    } else {
      if (consecutiveHysteresis) {
        curHysteresis = hysteresis;
      }
      if ((curIter - lastOverflowIter) % window == 0) {
        if (!consecutiveHysteresis) {
          curHysteresis = hysteresis;
        }
        scale *= FACTOR;
      }
    }
    curIter++;
  }

  /** State for a checkpoint: scale, iteration, last overflow iteration, remaining hysteresis. */
  public double[] state() {
    return new double[] {scale, curIter, lastOverflowIter, curHysteresis};
  }

  /** Restores what {@link #state()} returned. */
  public void restore(double[] state) {
    if (state.length != 4) {
      throw new IllegalArgumentException("loss scaler state has 4 values, got " + state.length);
    }
    scale = state[0];
    curIter = (long) state[1];
    lastOverflowIter = (long) state[2];
    curHysteresis = (int) state[3];
  }
}
