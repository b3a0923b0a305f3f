package org.zero4j.kernels.adam;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The reference for {@link CpuAdam}: the same update written as plain libtorch ops in float64,
 * unfused and unvectorised by us, so that it shares no code and no rounding with the kernel.
 *
 * <p>It follows the formula of {@link CpuAdam} with exact (fp64) constants and fp64 arithmetic
 * throughout; the kernel's fp32 results are expected to agree with it to a few fp32 ulps.
 */
public final class AdamReference {
  private AdamReference() {}

  /**
   * One Adam or AdamW step on float64 tensors, in place.
   *
   * @param param float64 parameters, updated in place
   * @param expAvg float64 first moment, updated in place
   * @param expAvgSq float64 second moment, updated in place
   * @param grad gradients of any floating dtype, same size; widened to float64
   * @param hp the hyperparameters
   * @param step the 1-based step count
   * @param gradScale the gradients are divided by it first
   * @return the fp64 sum of squares of the unscaled gradients and whether it is finite
   * @throws IllegalArgumentException if a state tensor is not float64
   */
  @SuppressWarnings("try") // the PointerScope is used for its effect: it frees the temporaries
  public static GradStats step(
      Tensor param,
      Tensor expAvg,
      Tensor expAvgSq,
      Tensor grad,
      AdamHyperparams hp,
      long step,
      double gradScale) {
    for (Tensor t : new Tensor[] {param, expAvg, expAvgSq}) {
      if (t.scalar_type().intern() != ScalarType.Double) {
        throw new IllegalArgumentException(
            "AdamReference works on float64 state, got " + t.scalar_type());
      }
    }
    try (PointerScope scope = new PointerScope()) {
      Tensor g = grad.to(ScalarType.Double).div(new Scalar(gradScale));
      double sumOfSquares = g.mul(g).sum().item_double();
      if (hp.weightDecay() > 0 && !hp.adamWMode()) {
        g = g.add(param, new Scalar(hp.weightDecay()));
      }
      expAvg.mul_(new Scalar(hp.beta1())).add_(g, new Scalar(1 - hp.beta1()));
      expAvgSq.mul_(new Scalar(hp.beta2())).add_(g.mul(g), new Scalar(1 - hp.beta2()));
      double correction1 = 1;
      double correction2 = 1;
      if (hp.biasCorrection()) {
        correction1 = 1 - Math.pow(hp.beta1(), step);
        correction2 = 1 - Math.pow(hp.beta2(), step);
      }
      Tensor denom =
          expAvgSq.sqrt().div(new Scalar(Math.sqrt(correction2))).add(new Scalar(hp.eps()));
      if (hp.weightDecay() > 0 && hp.adamWMode()) {
        param.mul_(new Scalar(1 - hp.lr() * hp.weightDecay()));
      }
      param.add_(expAvg.div(denom), new Scalar(-hp.lr() / correction1));
      return new GradStats(sumOfSquares, !Double.isFinite(sumOfSquares));
    }
  }
}
