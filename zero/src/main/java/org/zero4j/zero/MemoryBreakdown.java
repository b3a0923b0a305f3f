package org.zero4j.zero;

/**
 * Bytes of model state this rank holds between steps. Transient buffers (communication staging, the
 * fp32 gradient made during a step) are not included; they are bounded by the bucket sizes.
 *
 * @param params the working parameters (fp32, fp16 or bf16)
 * @param grads gradient storage that persists across micro-steps
 * @param masterWeights the fp32 master copy (0 when it is the working copy itself)
 * @param optimizerStates Adam's two moments
 * @param liveParams stage 3: bytes of gathered (full) unit parameters right now, persistent units
 *     included; 0 at stages 0-2, whose {@code params} are whole
 * @param peakLiveParams stage 3: the largest {@code liveParams} seen so far
 */
public record MemoryBreakdown(
    long params,
    long grads,
    long masterWeights,
    long optimizerStates,
    long liveParams,
    long peakLiveParams) {

  /** Stages 0-2: no gathered parameters beyond {@code params}. */
  public MemoryBreakdown(long params, long grads, long masterWeights, long optimizerStates) {
    this(params, grads, masterWeights, optimizerStates, 0, 0);
  }

  /** The sum of all parts held now (live parameters included, their peak not). */
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
    return s + " total=" + mib(total());
  }

  private static String mib(long bytes) {
    return String.format("%.2fMiB", bytes / (1024.0 * 1024.0));
  }
}
