package org.zero4j.kernels.adam;

import org.bytedeco.pytorch.Tensor;

/**
 * The fp32 optimizer state of one flat partition, updated in place: the master parameters and
 * Adam's two moments, all with the same number of elements.
 *
 * @param param the fp32 master parameters
 * @param expAvg the first moment (exp_avg)
 * @param expAvgSq the second moment (exp_avg_sq)
 */
public record FlatState(FlatView param, FlatView expAvg, FlatView expAvgSq) {

  public FlatState {
    check("param", param, param.numel());
    check("exp_avg", expAvg, param.numel());
    check("exp_avg_sq", expAvgSq, param.numel());
  }

  /** The state held in three contiguous fp32 CPU tensors. */
  public static FlatState of(Tensor param, Tensor expAvg, Tensor expAvgSq) {
    return new FlatState(FlatView.of(param), FlatView.of(expAvg), FlatView.of(expAvgSq));
  }

  /** The number of parameters. */
  public long numel() {
    return param.numel();
  }

  private static void check(String name, FlatView view, long numel) {
    if (view.type() != ElementType.FP32) {
      throw new IllegalArgumentException(
          "the CPU Adam state " + name + " must be fp32, got " + view.type());
    }
    if (view.numel() != numel) {
      throw new IllegalArgumentException(
          "the CPU Adam state "
              + name
              + " has "
              + view.numel()
              + " elements but param has "
              + numel
              + "; all three state buffers must have the same size");
    }
  }
}
