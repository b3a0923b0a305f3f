package org.zero4j.zero;

import org.zero4j.offload.OffloadOptimizerConfig;
import org.zero4j.offload.OffloadParamConfig;

/**
 * The {@code zero_optimization} block: which ZeRO stage runs and how it communicates. Sizes are in
 * elements, not bytes, as in DeepSpeed.
 *
 * @param stage {@code stage}: 0 (plain data parallel), 1 (optimizer state partitioned), 2 (and
 *     gradients), 3 (and parameters); default 0
 * @param contiguousGradients {@code contiguous_gradients}: copy gradients into a contiguous buffer
 *     as they are produced (default true)
 * @param reduceScatter {@code reduce_scatter}: reduce with reduce-scatter instead of all-reduce
 *     (default true)
 * @param reduceBucketSize {@code reduce_bucket_size}: elements reduced at a time, >= 0 (default
 *     5e8)
 * @param allgatherPartitions {@code allgather_partitions}: gather updated partitions with one
 *     all-gather instead of a series of broadcasts (default true)
 * @param allgatherBucketSize {@code allgather_bucket_size}: elements all-gathered at a time, >= 0
 *     (default 5e8)
 * @param overlapComm {@code overlap_comm}: overlap gradient reduction with backward (default: true
 *     for stage 3, false otherwise)
 * @param loadFromFp32Weights {@code load_from_fp32_weights}: initialise the fp32 master weights
 *     from the checkpoint's fp32 copy rather than the 16-bit model (default true)
 * @param elasticCheckpoint {@code elastic_checkpoint}: legacy elastic checkpoints (default false)
 * @param ignoreUnusedParameters {@code ignore_unused_parameters}: tolerate parameters that get no
 *     gradient (default true)
 * @param roundRobinGradients {@code round_robin_gradients}: round-robin gradient copies to CPU with
 *     offload (default false)
 * @param subGroupSize {@code sub_group_size}: elements per optimizer-step tile with offload, >= 0
 *     (default 1e9)
 * @param offloadOptimizer {@code offload_optimizer}: optimizer-state offload, or null when absent
 * @param offloadParam {@code offload_param}: parameter offload, or null when absent
 * @param stage3 the {@code stage3_*} keys
 */
public record ZeroConfig(
    int stage,
    boolean contiguousGradients,
    boolean reduceScatter,
    long reduceBucketSize,
    boolean allgatherPartitions,
    long allgatherBucketSize,
    boolean overlapComm,
    boolean loadFromFp32Weights,
    boolean elasticCheckpoint,
    boolean ignoreUnusedParameters,
    boolean roundRobinGradients,
    long subGroupSize,
    OffloadOptimizerConfig offloadOptimizer,
    OffloadParamConfig offloadParam,
    Stage3Config stage3) {

  /** DeepSpeed's defaults: stage 0. */
  public static final ZeroConfig DEFAULT =
      new ZeroConfig(
          0,
          true,
          true,
          500_000_000L,
          true,
          500_000_000L,
          false,
          true,
          false,
          true,
          false,
          1_000_000_000L,
          null,
          null,
          Stage3Config.DEFAULT);

  public ZeroConfig {
    if (stage < 0 || stage > 3) {
      throw new IllegalArgumentException(
          "zero_optimization.stage must be 0, 1, 2 or 3, got " + stage);
    }
    Stage3Config.nonNegative("reduce_bucket_size", reduceBucketSize);
    Stage3Config.nonNegative("allgather_bucket_size", allgatherBucketSize);
    Stage3Config.nonNegative("sub_group_size", subGroupSize);
    if (stage3 == null) {
      throw new IllegalArgumentException("zero_optimization stage3 settings must not be null");
    }
    if (offloadOptimizer != null && offloadOptimizer.ratio() < 1.0 && stage != 3) {
      throw new IllegalArgumentException(
          "zero_optimization.offload_optimizer.ratio "
              + offloadOptimizer.ratio()
              + " < 1 (partial offload) needs zero_optimization.stage 3, got stage "
              + stage
              + "; set ratio to 1.0 or use stage 3");
    }
  }
}
