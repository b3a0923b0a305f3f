package org.zero4j.engine.config;

/**
 * The {@code fp16} block: 16-bit mixed precision with loss scaling.
 *
 * @param enabled {@code enabled}: train with fp16 working weights (default false)
 * @param autoCast {@code auto_cast}: cast inputs to fp16 automatically (default false)
 * @param lossScale {@code loss_scale}: a static loss scale, or 0 for dynamic scaling (default 0)
 * @param initialScalePower {@code initial_scale_power}: the dynamic scale starts at 2^this (default
 *     16)
 * @param lossScaleWindow {@code loss_scale_window}: clean steps before the dynamic scale doubles
 *     (default 1000)
 * @param hysteresis {@code hysteresis}: overflows tolerated before the dynamic scale halves
 *     (default 2)
 * @param consecutiveHysteresis {@code consecutive_hysteresis}: refill the hysteresis after each
 *     clean step (default false)
 * @param minLossScale {@code min_loss_scale}: floor of the dynamic scale (default 1)
 * @param fp16MasterWeightsAndGrads {@code fp16_master_weights_and_grads}: keep master weights in
 *     fp16 (default false)
 */
public record Fp16Config(
    boolean enabled,
    boolean autoCast,
    double lossScale,
    int initialScalePower,
    int lossScaleWindow,
    int hysteresis,
    boolean consecutiveHysteresis,
    double minLossScale,
    boolean fp16MasterWeightsAndGrads) {

  /** DeepSpeed's defaults (disabled). */
  public static final Fp16Config DEFAULT =
      new Fp16Config(false, false, 0, 16, 1000, 2, false, 1, false);

  public Fp16Config {
    if (!(lossScale >= 0) || Double.isInfinite(lossScale)) {
      throw new IllegalArgumentException(
          "fp16.loss_scale must be a finite number >= 0 (0 selects dynamic loss scaling), got "
              + lossScale);
    }
    if (enabled && lossScale == 0) {
      if (lossScaleWindow <= 0) {
        throw new IllegalArgumentException(
            "fp16.loss_scale_window must be > 0 with dynamic loss scaling (loss_scale 0), got "
                + lossScaleWindow);
      }
      if (!(minLossScale > 0)) {
        throw new IllegalArgumentException(
            "fp16.min_loss_scale must be > 0 with dynamic loss scaling (loss_scale 0), got "
                + minLossScale);
      }
    }
    if (hysteresis < 0) {
      throw new IllegalArgumentException("fp16.hysteresis must be >= 0, got " + hysteresis);
    }
    if (initialScalePower < 0 || initialScalePower > 127) {
      throw new IllegalArgumentException(
          "fp16.initial_scale_power must be in [0, 127] (2^power must be a finite float), got "
              + initialScalePower);
    }
  }

  /** True when the loss scale adapts to overflows ({@code loss_scale} 0). */
  public boolean dynamicLossScale() {
    return lossScale == 0;
  }

  /** The first loss scale: {@code loss_scale} if static, else 2^{@code initial_scale_power}. */
  public double initialLossScale() {
    return dynamicLossScale() ? Math.pow(2, initialScalePower) : lossScale;
  }
}
