package org.zero4j.zero;

/**
 * Bytes of model state this rank holds between steps. Transient buffers (communication staging, the
 * fp32 gradient made during a step) are not included; they are bounded by the bucket sizes.
 *
 * @param params the working parameters (fp32, fp16 or bf16)
 * @param grads gradient storage that persists across micro-steps
 * @param masterWeights the fp32 master copy (0 when it is the working copy itself)
 * @param optimizerStates Adam's two moments
 */
public record MemoryBreakdown(long params, long grads, long masterWeights, long optimizerStates) {

  /** The sum of all parts. */
  public long total() {
    return params + grads + masterWeights + optimizerStates;
  }

  @Override
  public String toString() {
    return String.format(
        "params=%s grads=%s master=%s optimizer=%s total=%s",
        mib(params), mib(grads), mib(masterWeights), mib(optimizerStates), mib(total()));
  }

  private static String mib(long bytes) {
    return String.format("%.2fMiB", bytes / (1024.0 * 1024.0));
  }
}
