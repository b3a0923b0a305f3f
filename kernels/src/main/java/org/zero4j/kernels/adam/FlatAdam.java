package org.zero4j.kernels.adam;

import org.bytedeco.pytorch.Tensor;

/**
 * One Adam/AdamW update over flat, contiguous fp32 CPU buffers of equal length, in place. This is
 * the pluggable point through which the ZeRO engine runs its optimizer over a partition.
 */
public interface FlatAdam {

  /**
   * Updates {@code param}, {@code expAvg} and {@code expAvgSq} in place from {@code grad}.
   *
   * @param grad the gradient, already averaged over ranks, unscaled and clipped
   * @param hp hyperparameters, including this step's learning rate
   * @param step the 1-based count of this update, for bias correction
   */
  void step(
      Tensor param, Tensor expAvg, Tensor expAvgSq, Tensor grad, AdamHyperparams hp, long step);

  /** A short name for logs and reports. */
  String name();
}
