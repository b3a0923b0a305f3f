package org.zero4j.kernels.adam;

/**
 * The per-step constants of the native kernel, in the layout of {@code AdamCoeffs} in {@code
 * adam_scalar.h}.
 *
 * <p>Note [fp64 coefficients]: DeepSpeed keeps beta^t as a running fp32 product and derives the
 * bias corrections in fp32. Here beta^t, the corrections, the step size and 1-beta are computed in
 * fp64 from the step count and rounded to fp32 once, so the constants are the correctly rounded
 * values of the exact ones and do not drift with the step count. The element math itself is
 * DeepSpeed's, in fp32.
 */
record AdamCoefficients(float[] floats, int decayMode) {
  static final int DECAY_NONE = 0;
  static final int DECAY_L2 = 1;
  static final int DECAY_DECOUPLED = 2;

  static AdamCoefficients of(AdamHyperparams hp, long step, float invScale) {
    double biasCorrection1 = 1;
    double biasCorrection2 = 1;
    if (hp.biasCorrection()) {
      biasCorrection1 = 1 - Math.pow(hp.beta1(), step);
      biasCorrection2 = 1 / Math.sqrt(1 - Math.pow(hp.beta2(), step));
    }
    int mode = DECAY_NONE;
    if (hp.weightDecay() > 0) {
      mode = hp.adamWMode() ? DECAY_DECOUPLED : DECAY_L2;
    }
    float[] f = {
      invScale,
      (float) hp.beta1(),
      (float) (1 - hp.beta1()),
      (float) hp.beta2(),
      (float) (1 - hp.beta2()),
      (float) hp.eps(),
      (float) biasCorrection2,
      (float) (-hp.lr() / biasCorrection1),
      (float) hp.weightDecay(),
      (float) (-hp.lr() * hp.weightDecay())
    };
    return new AdamCoefficients(f, mode);
  }
}
