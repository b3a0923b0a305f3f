package org.zero4j.zero;

import java.util.ArrayList;
import java.util.List;

/**
 * A contiguous piece of one parameter's optimizer state: elements {@code [start, start + numel)} of
 * parameter {@code param} (registration index, flattened row-major), found at element {@code
 * stateOffset} of a rank's fp32 master and moment tensors ({@link PartitionedState#readState}).
 *
 * <p>Note [checkpoints store fragments, not shards]: a shard is chunk r of every bucket (stages
 * 1-2) or of every sharding unit (stage 3), and its boundaries depend on the world size, the bucket
 * size and the stage. Checkpoints therefore store optimizer state as named parameter fragments with
 * element ranges; loading under another layout recomputes the fragments the loading rank holds and
 * copies the overlapping ranges, with no conversion step.
 */
public record StateFragment(int param, long start, long numel, long stateOffset) {

  /** One past the last element, in parameter coordinates. */
  public long end() {
    return start + numel;
  }

  /**
   * The fragments of rank {@code rank}'s chunk of every bucket of {@code layout}, cut at parameter
   * boundaries, in shard order; padding owns none. {@code wholeState}: the state tensors span the
   * whole flat buffer (stage 0), so offsets are flat offsets; otherwise they are shard offsets.
   */
  static List<StateFragment> ofChunks(ShardLayout layout, int rank, boolean wholeState) {
    int world = layout.worldSize();
    List<StateFragment> out = new ArrayList<>();
    for (ShardLayout.Bucket b : layout.buckets()) {
      long lo = layout.chunkStart(b, rank);
      long hi = lo + b.chunk(world);
      for (int p : b.params()) { // buckets hold parameters in flat order
        ShardLayout.Slot s = layout.slots().get(p);
        long from = Math.max(lo, s.offset());
        long to = Math.min(hi, s.offset() + s.numel());
        if (from < to) {
          long state = wholeState ? from : b.shardOffset() + from - lo;
          out.add(new StateFragment(p, from - s.offset(), to - from, state));
        }
      }
    }
    return out;
  }

  /** Every parameter whole, at its flat offset (stage 0, where every rank holds everything). */
  static List<StateFragment> whole(ShardLayout layout) {
    List<StateFragment> out = new ArrayList<>();
    for (ShardLayout.Slot s : layout.slots()) {
      if (s.numel() > 0) {
        out.add(new StateFragment(s.param(), 0, s.numel(), s.offset()));
      }
    }
    return out;
  }
}
