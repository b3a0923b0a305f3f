package org.zero4j.zero;

import org.zero4j.offload.swap.ResidentMemory;

/**
 * Bytes of model state this rank holds between steps, and where they live. Transient buffers
 * (communication staging, the fp32 gradient made during a step) are not included; they are bounded
 * by the bucket sizes.
 *
 * <p>"Device" is the memory the model computes in (the accelerator in DeepSpeed; host memory on a
 * CPU-only run): working parameters, gradients, and optimizer state that is not offloaded. "Host"
 * is offloaded optimizer state held in host memory ({@code cpu}), or the swap staging buffers with
 * {@code nvme}. "NVMe" is the swap files' size.
 *
 * @param params the working parameters (fp32, fp16 or bf16)
 * @param grads gradient storage that persists across micro-steps
 * @param masterWeights the fp32 master copy (0 when it is the working copy itself), wherever it is
 * @param optimizerStates Adam's two moments, wherever they are
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
    long deviceBytes,
    long hostBytes,
    long nvmeBytes,
    long residentSetBytes) {

  /** Everything in device memory, nothing offloaded, resident set measured now. */
  public MemoryBreakdown(long params, long grads, long masterWeights, long optimizerStates) {
    this(
        params,
        grads,
        masterWeights,
        optimizerStates,
        params + grads + masterWeights + optimizerStates,
        0,
        0,
        ResidentMemory.current());
  }

  /** The sum of the four kinds of model state, wherever they live. */
  public long total() {
    return params + grads + masterWeights + optimizerStates;
  }

  @Override
  public String toString() {
    return String.format(
        "params=%s grads=%s master=%s optimizer=%s total=%s (device=%s host=%s nvme=%s) rss=%s",
        mib(params),
        mib(grads),
        mib(masterWeights),
        mib(optimizerStates),
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
