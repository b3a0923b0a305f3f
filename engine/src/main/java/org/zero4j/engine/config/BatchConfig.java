package org.zero4j.engine.config;

/**
 * The batch triple after DeepSpeed's derivation: {@code train_batch_size ==
 * train_micro_batch_size_per_gpu * gradient_accumulation_steps * world_size}.
 *
 * @param trainBatchSize {@code train_batch_size}: samples per optimizer step over all ranks
 * @param microBatchPerGpu {@code train_micro_batch_size_per_gpu}: samples per forward/backward on
 *     one rank
 * @param gradientAccumulationSteps {@code gradient_accumulation_steps}: micro batches per optimizer
 *     step
 */
public record BatchConfig(int trainBatchSize, int microBatchPerGpu, int gradientAccumulationSteps) {

  public BatchConfig {
    if (trainBatchSize <= 0) {
      throw new IllegalArgumentException("train_batch_size must be > 0, got " + trainBatchSize);
    }
    if (microBatchPerGpu <= 0) {
      throw new IllegalArgumentException(
          "train_micro_batch_size_per_gpu must be > 0, got " + microBatchPerGpu);
    }
    if (gradientAccumulationSteps <= 0) {
      throw new IllegalArgumentException(
          "gradient_accumulation_steps must be > 0, got " + gradientAccumulationSteps);
    }
  }

  /**
   * Derives the missing members as DeepSpeed does (integer division; a missing accumulation count
   * with only one batch size given is 1), then checks the product.
   *
   * @param train {@code train_batch_size} or null
   * @param micro {@code train_micro_batch_size_per_gpu} or null
   * @param gas {@code gradient_accumulation_steps} or null
   * @param worldSize data-parallel ranks, > 0
   */
  public static BatchConfig derive(Integer train, Integer micro, Integer gas, int worldSize) {
    if (worldSize <= 0) {
      throw new IllegalArgumentException("world size must be > 0, got " + worldSize);
    }
    if (train != null && micro != null && gas == null) {
      gas = micro == 0 ? 0 : train / micro / worldSize;
    } else if (train != null && micro == null && gas != null) {
      micro = gas == 0 ? 0 : train / worldSize / gas;
    } else if (train == null && micro != null && gas != null) {
      train = micro * gas * worldSize;
    } else if (train != null && micro == null) {
      gas = 1;
      micro = train / worldSize;
    } else if (train == null && micro != null) {
      gas = 1;
      train = micro * worldSize;
    } else if (train == null) {
      throw new IllegalArgumentException(
          "either train_batch_size or train_micro_batch_size_per_gpu must be given (with"
              + " gradient_accumulation_steps and the world size, the other is derived)");
    }
    if (train <= 0 || micro <= 0 || gas <= 0) {
      throw new IllegalArgumentException(
          "train_batch_size, train_micro_batch_size_per_gpu and gradient_accumulation_steps must"
              + " all be > 0, got "
              + train
              + ", "
              + micro
              + ", "
              + gas
              + " at world size "
              + worldSize);
    }
    if ((long) train != (long) micro * gas * worldSize) {
      throw new IllegalArgumentException(
          "train_batch_size must equal train_micro_batch_size_per_gpu * gradient_accumulation_steps"
              + " * world_size: train_batch_size "
              + train
              + " != "
              + micro
              + " * "
              + gas
              + " * "
              + worldSize
              + "; fix one of the three or leave one out to have it derived");
    }
    return new BatchConfig(train, micro, gas);
  }
}
