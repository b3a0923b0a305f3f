package org.zero4j.zero;

/**
 * Maps a range of one rank's shard to the places it occupies in the flat working buffer. A shard is
 * chunk {@code rank} of every bucket (Note [shard = one chunk of every bucket] in {@link
 * ShardLayout}), so a shard range is contiguous within a bucket and jumps between buckets.
 */
final class ShardSpan {

  /** Receives one contiguous piece: {@code numel} elements at shard offset and flat offset. */
  interface Piece {
    void accept(long shardOffset, long flatOffset, long numel);
  }

  private ShardSpan() {}

  /** Calls {@code piece} for each contiguous part of shard range {@code [from, from + numel)}. */
  static void forEach(ShardLayout layout, int rank, long from, long numel, Piece piece) {
    long end = from + numel;
    int world = layout.worldSize();
    for (ShardLayout.Bucket b : layout.buckets()) {
      long chunk = b.chunk(world);
      long lo = Math.max(from, b.shardOffset());
      long hi = Math.min(end, b.shardOffset() + chunk);
      if (lo < hi) {
        piece.accept(lo, layout.chunkStart(b, rank) + (lo - b.shardOffset()), hi - lo);
      }
    }
  }
}
