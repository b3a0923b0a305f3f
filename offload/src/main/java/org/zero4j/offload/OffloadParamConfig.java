package org.zero4j.offload;

/**
 * The {@code zero_optimization.offload_param} block: where partitioned parameters live between uses
 * (ZeRO stage 3 only).
 *
 * @param device {@code device}: none, cpu or nvme (default none)
 * @param nvmePath {@code nvme_path}: directory for the swap files when device is nvme, else null
 * @param pinMemory {@code pin_memory}: page-locked host buffers (default true)
 * @param bufferCount {@code buffer_count}: buffers in the NVMe swap pool, >= 0 (default 5)
 * @param bufferSize {@code buffer_size}: elements per NVMe swap buffer, >= 0 (default 1e8)
 * @param maxInCpu {@code max_in_cpu}: parameter elements kept in CPU memory with NVMe, >= 0
 *     (default 1e9)
 */
public record OffloadParamConfig(
    OffloadDevice device,
    String nvmePath,
    boolean pinMemory,
    int bufferCount,
    long bufferSize,
    long maxInCpu) {

  private static final String KEY = "zero_optimization.offload_param.";

  public OffloadParamConfig {
    if (device == null) {
      throw new IllegalArgumentException(KEY + "device must be one of none, cpu, nvme, got null");
    }
    if (bufferCount < 0) {
      throw new IllegalArgumentException(KEY + "buffer_count must be >= 0, got " + bufferCount);
    }
    if (bufferSize < 0) {
      throw new IllegalArgumentException(KEY + "buffer_size must be >= 0, got " + bufferSize);
    }
    if (maxInCpu < 0) {
      throw new IllegalArgumentException(KEY + "max_in_cpu must be >= 0, got " + maxInCpu);
    }
  }

  /** DeepSpeed's defaults with the given device. */
  public static OffloadParamConfig of(OffloadDevice device) {
    return new OffloadParamConfig(device, null, true, 5, 100_000_000L, 1_000_000_000L);
  }
}
