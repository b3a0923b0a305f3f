package org.zero4j.zero.stage3;

import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.zero.GradientNorm;
import org.zero4j.zero.StepResult;

/**
 * The stage-3 optimizer step when the fp32 state is swapped to NVMe ({@code
 * offload_optimizer.device = nvme}): the same math as the in-memory step, but the fp32 gradient is
 * made one sub-group at a time, so neither the state nor a shard-sized fp32 gradient is ever
 * resident.
 *
 * <p>Note [chunked stage-3 gradient]: each fp32 element is the working gradient converted, times
 * {@code 1 / (world * lossScale)}, times the clip coefficient when clipping is active: the same
 * operations in the same order as the in-memory step, so the updates are bit-identical to it. The
 * norm is a sum of per-sub-group sums of squares, which can differ from the single fp64 norm in the
 * last bits; that moves the clip coefficient by about one ulp when clipping is active.
 */
final class SwappedStep {

  private SwappedStep() {}

  static StepResult run(
      Stage3Optimizer o, AdamHyperparams hp, long adamStep, double lossScale, double clipNorm) {
    Tensor g = o.grads().shardGrad();
    long n = g.numel();
    long chunk = Math.max(1, Math.min(o.offload().subGroupSize(), n));
    double scale = 1.0 / (o.comm().worldSize() * lossScale);
    double sumSq = 0;
    for (long s = 0; s < n; s += chunk) {
      try (Tensor part = fp32(g, s, Math.min(chunk, n - s), scale, 1.0)) {
        sumSq += GradientNorm.sumOfSquares(part);
      }
    }
    double norm = o.allReducedNorm(sumSq);
    if (!Double.isFinite(norm)) {
      return new StepResult(true, norm, 1.0);
    }
    double coef = GradientNorm.clipCoefficient(norm, clipNorm);
    double k = coef;
    RuntimeException failure = null;
    try {
      o.optimizerState()
          .update(
              o.adam(), (from, len) -> fp32(g, from, len, scale, k), hp, adamStep, o::intoShards);
    } catch (RuntimeException e) {
      failure = e;
    }
    agree(o, failure);
    o.finishWriteBack();
    return new StepResult(false, norm, coef);
  }

  // Every native object made here (views, scalars, options) is closed at once: a step runs once
  // per sub-group, and whatever waits for the garbage collector adds up over a large shard.
  private static Tensor fp32(Tensor g, long from, long n, double scale, double coef) {
    Tensor t;
    try (Tensor part = g.narrow(0, from, n);
        MemoryFormatOptional format = new MemoryFormatOptional()) {
      t = part.to(torch.ScalarType.Float, false, true, format);
    }
    try (Scalar s = new Scalar(scale)) {
      t.mul_(s);
    }
    if (coef != 1.0) {
      try (Scalar c = new Scalar(coef)) {
        t.mul_(c);
      }
    }
    return t;
  }

  // Note [swap failure agreement] in ZeroOptimizer: a rank whose swap I/O failed must not leave its
  // peers waiting in the next collective; one 1-element all-reduce stops every rank.
  private static void agree(Stage3Optimizer o, RuntimeException failure) {
    if (o.comm().worldSize() > 1) {
      try (Scalar v = new Scalar(failure == null ? 0.0 : 1.0);
          Tensor flag = torch.full(new long[] {1}, v)) {
        o.comm().allReduce(flag).await();
        if (failure == null && flag.item_double() > 0) {
          throw new IllegalStateException(
              "another rank's NVMe optimizer swap failed during this step (see its error);"
                  + " training stops on every rank");
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
  }
}
