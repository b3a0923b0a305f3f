package org.zero4j.zero.stage3;

import org.zero4j.offload.AioConfig;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.offload.OffloadParamConfig;
import org.zero4j.offload.swap.FreeSpaceProbe;

/**
 * Where ZeRO stage 3 keeps each rank's parameter shards between gathers: in memory ({@code none}),
 * in host memory ({@code cpu}) or in a swap file under {@code nvme_path} ({@code nvme}), fetched
 * ahead of each unit's gather through {@code buffer_count} buffers of {@code buffer_size} elements.
 *
 * @param config the {@code offload_param} block; device none means no offload
 * @param aio the {@code aio} block (NVMe only)
 * @param freeSpace how free disk space is measured (injectable for tests)
 */
public record ParamOffload(OffloadParamConfig config, AioConfig aio, FreeSpaceProbe freeSpace) {

  /** No offload. */
  public static final ParamOffload NONE =
      new ParamOffload(
          OffloadParamConfig.of(OffloadDevice.NONE), AioConfig.DEFAULT, FreeSpaceProbe.FILESYSTEM);

  public ParamOffload {
    if (config == null || aio == null || freeSpace == null) {
      throw new IllegalArgumentException("offload_param config, aio config and probe must be set");
    }
    if (config.device() == OffloadDevice.NVME && config.bufferCount() < 1) {
      throw new IllegalArgumentException(
          "zero_optimization.offload_param.buffer_count must be >= 1 with device nvme (one unit"
              + " shard is staged per buffer), got "
              + config.bufferCount());
    }
  }

  /** The given block with the engine's {@code aio} settings; null means no offload. */
  public static ParamOffload of(OffloadParamConfig config, AioConfig aio) {
    return config == null ? NONE : new ParamOffload(config, aio, FreeSpaceProbe.FILESYSTEM);
  }

  /** The same settings with another free-space probe. */
  public ParamOffload withFreeSpace(FreeSpaceProbe probe) {
    return new ParamOffload(config, aio, probe);
  }

  /** The device. */
  public OffloadDevice device() {
    return config.device();
  }
}
