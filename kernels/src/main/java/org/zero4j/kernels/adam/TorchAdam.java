package org.zero4j.kernels.adam;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;

/**
 * {@link FlatAdam} built from libtorch tensor ops, in exactly the order of libtorch's own {@code
 * torch::optim::Adam} and {@code AdamW} (csrc/api/src/optim/adam.cpp, adamw.cpp), so that on the
 * same data it gives the same bits. It makes several passes over memory; the fused kernel is the
 * fast path.
 */
public final class TorchAdam implements FlatAdam {

  @Override
  public void step(
      Tensor param, Tensor expAvg, Tensor expAvgSq, Tensor grad, AdamHyperparams hp, long step) {
    if (step < 1) {
      throw new IllegalArgumentException("Adam step count starts at 1, got " + step);
    }
    Tensor g = grad;
    Tensor decayedGrad = null;
    if (hp.weightDecay() != 0) {
      if (hp.adamWMode()) {
        param.mul_(new Scalar(1 - hp.lr() * hp.weightDecay()));
      } else {
        decayedGrad = grad.add(param, new Scalar(hp.weightDecay()));
        g = decayedGrad;
      }
    }
    double bc1 = hp.biasCorrection() ? 1 - Math.pow(hp.beta1(), step) : 1;
    double bc2 = hp.biasCorrection() ? 1 - Math.pow(hp.beta2(), step) : 1;
    expAvg.mul_(new Scalar(hp.beta1())).add_(g, new Scalar(1 - hp.beta1()));
    expAvgSq.mul_(new Scalar(hp.beta2())).addcmul_(g, g, new Scalar(1 - hp.beta2()));
    try (Tensor sqrt = expAvgSq.sqrt();
        Tensor denom = sqrt.div(new Scalar(Math.sqrt(bc2)))) {
      denom.add_(new Scalar(hp.eps()));
      param.addcdiv_(expAvg, denom, new Scalar(-(hp.lr() / bc1)));
    }
    if (decayedGrad != null) {
      decayedGrad.close();
    }
  }

  @Override
  public String name() {
    return "libtorch-ops";
  }
}
