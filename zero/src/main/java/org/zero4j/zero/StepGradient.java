package org.zero4j.zero;

import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.zero.comm.Collectives;

/**
 * The gradient a ZeRO stage 0-2 step updates with: the reduced sum over ranks of this rank's part,
 * averaged and unscaled into fp32 ({@code 1 / (worldSize * lossScale)}), and its global norm over
 * all ranks' parts.
 */
final class StepGradient {

  private final GradientReducer grads;
  private final Collectives comm;
  private final boolean partitioned;
  private final boolean swapped;
  private final long subGroupSize;

  StepGradient(
      GradientReducer grads,
      Collectives comm,
      boolean partitioned,
      boolean swapped,
      long subGroupSize) {
    this.grads = grads;
    this.comm = comm;
    this.partitioned = partitioned;
    this.swapped = swapped;
    this.subGroupSize = subGroupSize;
  }

  /**
   * The averaged fp32 gradient, valid until the reducer is zeroed; the caller closes the returned
   * tensor (a copy, or a view of the reduced gradient with NVMe offload in fp32).
   */
  Tensor averaged(double lossScale) {
    return swapped ? averagedInPlace(lossScale) : averagedFp32(lossScale);
  }

  private Tensor averagedFp32(double lossScale) {
    Tensor summed = grads.reduced();
    Tensor g = summed.to(torch.ScalarType.Float, false, true, new MemoryFormatOptional());
    g.mul_(new Scalar(1.0 / (comm.worldSize() * lossScale)));
    return g;
  }

  // Note [in-place gradient average]: with NVMe offload the fp32 state is not resident, so a
  // shard-sized fp32 copy of the gradient would dominate the resident set. In fp32 the reduced
  // gradient is scaled in place instead (it is zeroed after the step anyway); the values are those
  // averagedFp32 computes, so results stay bit-identical. 16-bit gradients still need the copy.
  private Tensor averagedInPlace(double lossScale) {
    Tensor summed = grads.reduced();
    if (summed.scalar_type().value != torch.ScalarType.Float.value) {
      return averagedFp32(lossScale);
    }
    Tensor g = summed.narrow(0, 0, summed.numel());
    g.mul_(new Scalar(1.0 / (comm.worldSize() * lossScale)));
    return g;
  }

  /** The L2 norm of the whole model's averaged gradient; a collective when partitioned. */
  double globalNorm(Tensor grad32) {
    double sumSq = swapped ? chunkedSumOfSquares(grad32) : GradientNorm.sumOfSquares(grad32);
    if (partitioned && comm.worldSize() > 1) {
      try (Tensor t = torch.full(new long[] {1}, new Scalar(sumSq));
          Tensor d = t.to(torch.ScalarType.Double)) {
        comm.allReduce(d).await();
        sumSq = d.item_double();
      }
    }
    return Math.sqrt(sumSq);
  }

  // Note [chunked norm with NVMe offload]: libtorch computes an fp64 norm of an fp32 tensor through
  // an fp64 copy of it, twice the gradient's size, which would dwarf the swap buffers that bound
  // the resident set. With NVMe offload the sum of squares is accumulated one sub-group at a time
  // instead. It can differ from the in-memory path's in the last bits, which moves the clip factor
  // by about one ulp when clipping is active; without clipping the updates stay bit-identical.
  private double chunkedSumOfSquares(Tensor grad32) {
    long n = grad32.numel();
    long chunk = Math.max(1, Math.min(subGroupSize, n));
    double sum = 0;
    for (long s = 0; s < n; s += chunk) {
      try (Tensor part = grad32.narrow(0, s, Math.min(chunk, n - s))) {
        sum += GradientNorm.sumOfSquares(part);
      }
    }
    return sum;
  }
}
