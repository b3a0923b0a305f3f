package org.zero4j.offload;

/**
 * The {@code zero_optimization.offload_optimizer} block: where the optimizer state lives and where
 * the optimizer step runs (DeepSpeed: CPU for both {@code cpu} and {@code nvme}).
 *
 * @param device {@code device}: none, cpu or nvme (default none)
 * @param nvmePath {@code nvme_path}: directory for the swap files when device is nvme, else null
 * @param pinMemory {@code pin_memory}: page-locked host buffers (default true)
 * @param bufferCount {@code buffer_count}: buffers in the NVMe swap pool, >= 0 (default 4)
 * @param pipelineRead {@code pipeline_read}: read the next tile while computing (default false)
 * @param pipelineWrite {@code pipeline_write}: write the previous tile while computing (default
 *     false)
 * @param fastInit {@code fast_init}: fast optimizer initialisation with NVMe (default false)
 * @param ratio {@code ratio}: fraction of the optimizer state offloaded, in [0, 1] (default 1;
 *     below 1 only with stage 3)
 * @param superOffload {@code super_offload}: DeepSpeed's Superchip offload mode (default false)
 * @param cpuadamCoresPerc {@code cpuadam_cores_perc}: share of cores for CPU Adam, in [0, 1]
 *     (default 0.8)
 */
public record OffloadOptimizerConfig(
    OffloadDevice device,
    String nvmePath,
    boolean pinMemory,
    int bufferCount,
    boolean pipelineRead,
    boolean pipelineWrite,
    boolean fastInit,
    double ratio,
    boolean superOffload,
    double cpuadamCoresPerc) {

  private static final String KEY = "zero_optimization.offload_optimizer.";

  public OffloadOptimizerConfig {
    if (device == null) {
      throw new IllegalArgumentException(KEY + "device must be one of none, cpu, nvme, got null");
    }
    if (bufferCount < 0) {
      throw new IllegalArgumentException(KEY + "buffer_count must be >= 0, got " + bufferCount);
    }
    if (!(ratio >= 0 && ratio <= 1)) {
      throw new IllegalArgumentException(KEY + "ratio must be in [0, 1], got " + ratio);
    }
    if (!(cpuadamCoresPerc >= 0 && cpuadamCoresPerc <= 1)) {
      throw new IllegalArgumentException(
          KEY + "cpuadam_cores_perc must be in [0, 1], got " + cpuadamCoresPerc);
    }
  }

  /** DeepSpeed's defaults with the given device. */
  public static OffloadOptimizerConfig of(OffloadDevice device) {
    return new OffloadOptimizerConfig(device, null, true, 4, false, false, false, 1.0, false, 0.8);
  }
}
