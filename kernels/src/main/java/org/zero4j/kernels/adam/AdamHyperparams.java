package org.zero4j.kernels.adam;

/**
 * Hyperparameters of one Adam or AdamW step, with DeepSpeed's semantics.
 *
 * <p>With {@code adamWMode} the weight decay is decoupled ({@code p -= lr * weightDecay * p}, as in
 * AdamW); without it the decay is added to the gradient ({@code g += weightDecay * p}, classic
 * L2-regularised Adam). The step count is passed to each step separately, since it changes.
 *
 * @param lr learning rate for this step
 * @param beta1 decay rate of the first moment, in [0, 1)
 * @param beta2 decay rate of the second moment, in [0, 1)
 * @param eps term added to the denominator for numerical stability, positive
 * @param weightDecay weight decay coefficient, non-negative
 * @param adamWMode true for decoupled (AdamW) weight decay, false for L2 added to the gradient
 * @param biasCorrection true to divide the moments by (1 - beta^step)
 */
public record AdamHyperparams(
    double lr,
    double beta1,
    double beta2,
    double eps,
    double weightDecay,
    boolean adamWMode,
    boolean biasCorrection) {

  public AdamHyperparams {
    if (!(lr >= 0) || Double.isInfinite(lr)) {
      throw new IllegalArgumentException("lr must be a finite number >= 0, got " + lr);
    }
    if (!(beta1 >= 0 && beta1 < 1)) {
      throw new IllegalArgumentException("beta1 must be in [0, 1), got " + beta1);
    }
    if (!(beta2 >= 0 && beta2 < 1)) {
      throw new IllegalArgumentException("beta2 must be in [0, 1), got " + beta2);
    }
    if (!(eps > 0) || Double.isInfinite(eps)) {
      throw new IllegalArgumentException("eps must be a finite number > 0, got " + eps);
    }
    if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
      throw new IllegalArgumentException(
          "weight_decay must be a finite number >= 0, got " + weightDecay);
    }
  }

  /** The same hyperparameters with another learning rate (the LR schedule changes it per step). */
  public AdamHyperparams withLr(double newLr) {
    return new AdamHyperparams(newLr, beta1, beta2, eps, weightDecay, adamWMode, biasCorrection);
  }
}
