package org.zero4j.engine.checkpoint;

/**
 * Where a rank's data loader stands, saved with a checkpoint so a resumed run skips the batches
 * already consumed (accelerate's {@code skip_first_batches}). With {@link
 * org.zero4j.engine.data.DistributedSampler}: {@code sampler.setEpoch(epoch)} then {@code
 * sampler.batches(micro, microBatchesConsumed)}.
 *
 * @param epoch the sampler's epoch
 * @param microBatchesConsumed micro-batches of that epoch this rank has already trained on
 */
public record SamplerPosition(long epoch, long microBatchesConsumed) {
  public SamplerPosition {
    if (epoch < 0 || microBatchesConsumed < 0) {
      throw new IllegalArgumentException(
          "sampler position must be non-negative, got epoch "
              + epoch
              + ", consumed "
              + microBatchesConsumed);
    }
  }
}
