package org.zero4j.zero;

import org.zero4j.kernels.adam.AdamHyperparams;

/**
 * What the engine drives on every micro-step and optimizer step, whatever the ZeRO stage: {@link
 * ZeroOptimizer} for stages 0-2, {@code Stage3Optimizer} for stage 3. Its {@link PartitionedState}
 * side is what checkpoints save and load.
 */
public interface ZeroRuntime extends PartitionedState, AutoCloseable {

  /** Call before each micro-step's backward. */
  void beforeBackward();

  /** Call after each micro-step's backward. */
  void afterBackward();

  /**
   * Reduces, unscales, checks for overflow, clips and updates, then clears the gradients.
   *
   * @param hp Adam hyperparameters with this step's learning rate
   * @param adamStep 1-based count of updates actually applied, including this one
   * @param lossScale the loss scale the gradients carry (1 without fp16)
   * @param clipNorm maximum global gradient norm, 0 for no clipping
   */
  StepResult step(AdamHyperparams hp, long adamStep, double lossScale, double clipNorm);

  /** Bytes of model state held by this rank. */
  MemoryBreakdown memory();

  @Override
  void close();
}
