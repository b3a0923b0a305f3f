package org.zero4j.zero;

import org.zero4j.offload.swap.ResidentMemory;

/**
 * Bytes of model state this rank holds between steps, and where they live. Transient buffers
 * (communication staging, the fp32 gradient made during a step) are not included; they are bounded
 * by the bucket sizes.
 *
 * <p>"Device" is the memory the model computes in (the accelerator in DeepSpeed; host memory on a
 * CPU-only run): working parameters, gradients, gathered stage-3 parameters, and optimizer state
 * that is not offloaded. "Host" is offloaded optimizer state held in host memory ({@code cpu}), or
 * the swap staging buffers with {@code nvme}. "NVMe" is the swap files' size.
 *
 * @param params the working parameters (fp32, fp16 or bf16); at stage 3 this rank's shards only
 * @param grads gradient storage that persists across micro-steps
 * @param masterWeights the fp32 master copy (0 when it is the working copy itself), wherever it is
 * @param optimizerStates Adam's two moments, wherever they are
 * @param liveParams stage 3: bytes of gathered (full) unit parameters right now, persistent units
 *     included; 0 at stages 0-2, whose {@code params} are whole
 * @param peakLiveParams stage 3: the largest {@code liveParams} seen so far
 * @param deviceBytes bytes of the above in device memory
 * @param hostBytes bytes of offloaded state (or NVMe staging buffers) in host memory
 * @param nvmeBytes bytes of swap files on NVMe
 * @param residentSetBytes this process's resident set size ({@code VmRSS}) when measured, or -1
 */
public record MemoryBreakdown(
    long params,
    long grads,
    long masterWeights,
    long optimizerStates,
    long liveParams,
    long peakLiveParams,
    long deviceBytes,
    long hostBytes,
    long nvmeBytes,
    long residentSetBytes) {

  /** Stages 0-2, everything in device memory, nothing offloaded, resident set measured now. */
  public MemoryBreakdown(long params, long grads, long masterWeights, long optimizerStates) {
    this(params, grads, masterWeights, optimizerStates, 0, 0);
  }

  /** Nothing offloaded, resident set measured now. */
  public MemoryBreakdown(
      long params,
      long grads,
      long masterWeights,
      long optimizerStates,
      long liveParams,
      long peakLiveParams) {
    this(
        params,
        grads,
        masterWeights,
        optimizerStates,
        liveParams,
        peakLiveParams,
        params + grads + masterWeights + optimizerStates + liveParams,
        0,
        0,
        ResidentMemory.current());
  }

  /**
   * The sum of all parts held now, wherever they live (live parameters included, their peak not).
   */
  public long total() {
    return params + grads + masterWeights + optimizerStates + liveParams;
  }

  @Override
  public String toString() {
    String s =
        String.format(
            "params=%s grads=%s master=%s optimizer=%s",
            mib(params), mib(grads), mib(masterWeights), mib(optimizerStates));
    if (peakLiveParams > 0) {
      s += String.format(" live=%s peak_live=%s", mib(liveParams), mib(peakLiveParams));
    }
    return s
        + String.format(
            " total=%s (device=%s host=%s nvme=%s) rss=%s",
            mib(total()),
            mib(deviceBytes),
            mib(hostBytes),
            mib(nvmeBytes),
            residentSetBytes < 0 ? "unknown" : mib(residentSetBytes));
  }

  private static String mib(long bytes) {
    return String.format("%.2fMiB", bytes / (1024.0 * 1024.0));
  }
}
