package org.zero4j.engine.checkpoint;

import java.util.ArrayList;
import java.util.List;
import org.zero4j.zero.ShardLayout;

/**
 * A contiguous piece of one parameter: elements {@code [start, start + numel)} of parameter {@code
 * param} (registration index, flattened row-major), found at {@code flatOffset} in the flat buffer
 * and at {@code shardOffset} in the owning rank's shard.
 *
 * <p>Note [checkpoints store fragments, not shards]: a shard is chunk r of every bucket, and its
 * boundaries depend on the world size and the bucket size. A checkpoint therefore stores optimizer
 * state as named parameter fragments with element ranges. Loading at another world size, bucket
 * size or stage recomputes the fragments the loading rank needs from its own layout and copies the
 * overlapping ranges; no conversion step exists or is needed.
 */
public record ParamFragment(int param, long start, long numel, long flatOffset, long shardOffset) {

  /**
   * The fragments rank {@code rank} owns under {@code layout}: its chunk of every bucket, cut at
   * parameter boundaries, in shard order. Padding owns no fragment.
   */
  public static List<ParamFragment> owned(ShardLayout layout, int rank) {
    int world = layout.worldSize();
    List<ParamFragment> out = new ArrayList<>();
    for (ShardLayout.Bucket b : layout.buckets()) {
      long chunk = b.chunk(world);
      long lo = layout.chunkStart(b, rank);
      long hi = lo + chunk;
      // buckets hold parameters in flat order, which is the order of b.params()
      for (int p : b.params()) {
        ShardLayout.Slot s = layout.slots().get(p);
        long from = Math.max(lo, s.offset());
        long to = Math.min(hi, s.offset() + s.numel());
        if (from < to) {
          out.add(
              new ParamFragment(
                  p, from - s.offset(), to - from, from, b.shardOffset() + from - lo));
        }
      }
    }
    return out;
  }

  /** Every parameter whole, at its flat offset (stage 0, where each rank holds everything). */
  public static List<ParamFragment> whole(ShardLayout layout) {
    List<ParamFragment> out = new ArrayList<>();
    for (ShardLayout.Slot s : layout.slots()) {
      if (s.numel() > 0) {
        out.add(new ParamFragment(s.param(), 0, s.numel(), s.offset(), s.offset()));
      }
    }
    return out;
  }

  /** Where this fragment sits in a rank's fp32 master tensor at {@code stage}. */
  public long offsetInMaster(int stage) {
    return stage == 0 ? flatOffset : shardOffset;
  }

  /** One past the last element, in parameter coordinates. */
  public long end() {
    return start + numel;
  }
}
