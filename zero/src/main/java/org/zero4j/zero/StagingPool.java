package org.zero4j.zero;

import java.util.ArrayDeque;
import java.util.Deque;
import org.bytedeco.pytorch.Tensor;

/**
 * Buffers for stage 2's gradient buckets during one backward: each holds the largest bucket in wire
 * precision and is taken for one bucket, from its first gradient (or its reduction's launch, for a
 * receive buffer) until the reduction completes, then reused by a later bucket. At most the buckets
 * in flight plus the ones filling are held at once.
 *
 * <p>Note [staging lives for one backward]: {@link #release()} frees every buffer once backward's
 * reductions are over, so nothing persists beyond the shard gradient and ZeRO's memory formula
 * holds. Kept across steps they would cost up to twice the largest bucket per buffer in flight
 * (with DeepSpeed's default {@code reduce_bucket_size} of 5e8, twice the model), and the NVMe
 * offload's resident-set budget would not hold. The price is an allocation and first-touch page
 * faults per buffer per backward, part of the hooks' cost measured in BENCHMARKS.md.
 */
final class StagingPool implements AutoCloseable {

  private final Precision wire;
  private final long numel;
  private final Deque<Tensor> free = new ArrayDeque<>();

  StagingPool(ShardLayout layout, Precision wire) {
    this.wire = wire;
    long max = 1;
    for (ShardLayout.Bucket b : layout.buckets()) {
      max = Math.max(max, b.paddedNumel());
    }
    this.numel = max;
  }

  /** A buffer of at least {@code b}'s padded size, with stale contents. */
  Tensor take(ShardLayout.Bucket b) {
    Tensor buf = free.poll();
    return buf != null ? buf : wire.empty(numel);
  }

  /** Returns {@code buf} for reuse within this backward. */
  void give(Tensor buf) {
    free.push(buf);
  }

  /** Frees every buffer given back. */
  void release() {
    while (!free.isEmpty()) {
      free.pop().close();
    }
  }

  @Override
  public void close() {
    release();
  }
}
