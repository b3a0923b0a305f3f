package org.zero4j.kernels.adam;

import org.bytedeco.pytorch.Tensor;

/**
 * An Adam or AdamW update of one flat fp32 partition, in place. This is the seam where the engine
 * plugs in an optimizer implementation: {@link CpuAdam} (the fused native kernel) or any other
 * implementation of the same math.
 */
public interface FlatAdam {

  /**
   * Applies one step to {@code param}, {@code expAvg} and {@code expAvgSq}.
   *
   * @param param fp32 master parameters, contiguous, on the CPU; updated in place
   * @param expAvg fp32 first moment, same size; updated in place
   * @param expAvgSq fp32 second moment, same size; updated in place
   * @param grad fp32 gradients, same size, already unscaled and clipped; only read
   * @param hp the hyperparameters of this step
   * @param step the 1-based step count used for bias correction
   */
  void step(
      Tensor param, Tensor expAvg, Tensor expAvgSq, Tensor grad, AdamHyperparams hp, long step);

  /** A short name for logs and reports. */
  default String name() {
    return getClass().getSimpleName();
  }
}
