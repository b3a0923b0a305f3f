package org.zero4j.zero;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import org.bytedeco.pytorch.Tensor;

/**
 * Reusable buffers for stage 2's gradient buckets (DeepSpeed's {@code ipg} buffers): each holds the
 * largest bucket in wire precision, and is taken for one bucket from its first gradient until its
 * reduction completes. At most a few are ever alive (the buckets in flight plus the one filling),
 * so they sit outside ZeRO's memory formula, as DeepSpeed's do.
 *
 * <p>Note [staging views]: a hook copies its gradient into a view of the buffer shaped like the
 * parameter. A parameter always sits at the same offset of its bucket, so each buffer keeps the
 * view of every parameter it has staged: a hook then costs one copy and no view-making calls.
 *
 * <p>Note [pool outlives the caller's scope]: buffers are allocated inside hooks, which run inside
 * the caller's backward and often within a {@code PointerScope} that frees every tensor made in it.
 * Each pooled tensor takes one extra reference, so the scope's release leaves it alive and {@link
 * #close()} frees it.
 */
final class StagingPool implements AutoCloseable {

  /** One pooled buffer and the parameter views made on it. */
  static final class Buffer {
    private final Tensor data;
    private final Tensor[] views;
    private Tensor bucket;

    private Buffer(Tensor data, int params) {
      this.data = data;
      this.views = new Tensor[params];
    }

    /** The current bucket's range, padding included. */
    Tensor bucket() {
      return bucket;
    }

    /** The whole buffer. */
    Tensor data() {
      return data;
    }
  }

  private final ShardLayout layout;
  private final List<NamedParameter> params;
  private final Precision wire;
  private final long numel;
  private final Deque<Buffer> free = new ArrayDeque<>();
  private final List<Buffer> all = new ArrayList<>();

  StagingPool(ShardLayout layout, List<NamedParameter> params, Precision wire) {
    this.layout = layout;
    this.params = params;
    this.wire = wire;
    long max = 1;
    for (ShardLayout.Bucket b : layout.buckets()) {
      max = Math.max(max, b.paddedNumel());
    }
    this.numel = max;
  }

  /** A buffer for bucket {@code b}, its padding zeroed; its parameter slots hold stale values. */
  Buffer take(ShardLayout.Bucket b) {
    Buffer buf = takeScratch(b);
    if (b.paddedNumel() > b.numel()) {
      try (Tensor pad = buf.bucket.narrow(0, b.numel(), b.paddedNumel() - b.numel())) {
        pad.zero_();
      }
    }
    return buf;
  }

  /** A buffer for bucket {@code b} with stale contents, for scratch use. */
  Buffer takeScratch(ShardLayout.Bucket b) {
    Buffer buf = free.poll();
    if (buf == null) {
      Tensor data = wire.empty(numel);
      data.retainReference();
      buf = new Buffer(data, params.size());
      all.add(buf);
    }
    buf.bucket = buf.data.narrow(0, 0, b.paddedNumel());
    return buf;
  }

  /**
   * The view of parameter {@code param}'s slot in {@code buf}, shaped like the parameter; {@code
   * buf} must have been taken for the parameter's bucket.
   */
  Tensor view(Buffer buf, int param) {
    Tensor v = buf.views[param];
    if (v == null) {
      ShardLayout.Slot slot = layout.slots().get(param);
      ShardLayout.Bucket b = layout.buckets().get(slot.bucket());
      try (Tensor flat = buf.data.narrow(0, slot.offset() - b.start(), slot.numel())) {
        v = flat.view(params.get(param).tensor().sizes().vec().get());
      }
      v.retainReference();
      buf.views[param] = v;
    }
    return v;
  }

  /** Returns {@code buf} to the pool. */
  void give(Buffer buf) {
    if (buf.bucket != null) {
      buf.bucket.close();
      buf.bucket = null;
    }
    free.push(buf);
  }

  @Override
  public void close() {
    for (Buffer buf : all) {
      for (Tensor v : buf.views) {
        if (v != null) {
          v.close();
        }
      }
      if (buf.bucket != null) {
        buf.bucket.close();
      }
      buf.data.close();
    }
    all.clear();
    free.clear();
  }
}
