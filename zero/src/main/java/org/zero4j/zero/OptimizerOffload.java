package org.zero4j.zero;

import org.zero4j.offload.AioConfig;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.offload.OffloadOptimizerConfig;
import org.zero4j.offload.swap.FreeSpaceProbe;

/**
 * Where a {@link ZeroOptimizer} keeps its fp32 master shard and Adam moments: in memory next to the
 * working copy ({@code none}), in host memory ({@code cpu}), or in a swap file on NVMe streamed
 * through sub-groups ({@code nvme}).
 *
 * @param config the {@code offload_optimizer} block; device none means no offload
 * @param aio the {@code aio} block (NVMe only)
 * @param subGroupSize {@code sub_group_size}: elements per swapped sub-group (NVMe only)
 * @param freeSpace how free disk space is measured (injectable for tests)
 */
public record OptimizerOffload(
    OffloadOptimizerConfig config, AioConfig aio, long subGroupSize, FreeSpaceProbe freeSpace) {

  /** No offload. */
  public static final OptimizerOffload NONE =
      new OptimizerOffload(
          OffloadOptimizerConfig.of(OffloadDevice.NONE),
          AioConfig.DEFAULT,
          1_000_000_000L,
          FreeSpaceProbe.FILESYSTEM);

  private static final String KEY = "zero_optimization.offload_optimizer.";

  public OptimizerOffload {
    if (config == null || aio == null || freeSpace == null) {
      throw new IllegalArgumentException("offload config, aio config and probe must not be null");
    }
    if (config.device() == OffloadDevice.NVME) {
      if (subGroupSize < 1) {
        throw new IllegalArgumentException(
            "zero_optimization.sub_group_size must be >= 1 with offload_optimizer.device nvme,"
                + " got "
                + subGroupSize);
      }
      int needed = pipelined(config) ? 6 : 3;
      if (config.bufferCount() < needed) {
        throw new IllegalArgumentException(
            KEY
                + "buffer_count must be >= "
                + needed
                + " with device nvme"
                + (pipelined(config) ? " and pipeline_read or pipeline_write" : "")
                + " (3 buffers, fp32 params and both Adam moments, per sub-group in flight), got "
                + config.bufferCount());
      }
    }
    if (config.superOffload()) {
      throw new IllegalArgumentException(
          KEY + "super_offload=true is not supported yet (DeepSpeed allows it only at stage 3)");
    }
  }

  /** The given block with the engine's {@code aio} settings and sub-group size. */
  public static OptimizerOffload of(OffloadOptimizerConfig config, AioConfig aio, long subGroup) {
    if (config == null) {
      return NONE;
    }
    return new OptimizerOffload(config, aio, subGroup, FreeSpaceProbe.FILESYSTEM);
  }

  /** The same settings with another free-space probe. */
  public OptimizerOffload withFreeSpace(FreeSpaceProbe probe) {
    return new OptimizerOffload(config, aio, subGroupSize, probe);
  }

  /** The device. */
  public OffloadDevice device() {
    return config.device();
  }

  static boolean pipelined(OffloadOptimizerConfig c) {
    return c.pipelineRead() || c.pipelineWrite();
  }
}
