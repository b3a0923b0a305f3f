package org.zero4j.zero.stage3;

import java.util.ArrayList;
import java.util.List;

/**
 * Consecutive units whose gradients are reduce-scattered together, in one collective: DeepSpeed's
 * {@code reduce_bucket_size} at stage 3.
 *
 * <p>Note [rank-major bucket]: a reduce-scatter sends the i-th of N equal sections of its input to
 * rank i. For one collective to deliver every unit's chunk to its owner, the bucket's staging
 * buffer is laid out rank by rank: section r holds chunk r of each unit, in unit order. A unit's
 * gradient, flat and padded, therefore lands in N pieces, one per section ({@link #forEachPiece}).
 * What rank r receives is then its chunk of each unit in unit order, which is exactly the range of
 * its flat shard that starts at the first unit's offset, since shards are laid out in unit order.
 */
final class ReduceBucket {

  /** Where a piece of a unit's flat gradient goes in the bucket's staging buffer. */
  interface Piece {
    void accept(long bucketPos, long unitPos, long len);
  }

  final List<UnitParams> units; // ascending unit index, consecutive
  private final long[] sectionOffset; // by position in units
  final long section; // elements of one rank's section: the units' chunks
  final int first; // index of the first unit

  private ReduceBucket(List<UnitParams> units) {
    this.units = List.copyOf(units);
    this.first = units.get(0).index();
    this.sectionOffset = new long[units.size()];
    long off = 0;
    for (int i = 0; i < units.size(); i++) {
      sectionOffset[i] = off;
      off += units.get(i).chunk();
    }
    this.section = off;
  }

  /**
   * Groups {@code units} (in index order) into buckets in backward order, from the last unit: a
   * bucket closes once it holds {@code bucketNumel} elements or {@code maxUnits} units.
   */
  static List<ReduceBucket> plan(List<UnitParams> units, long bucketNumel, int maxUnits) {
    List<ReduceBucket> out = new ArrayList<>();
    List<UnitParams> open = new ArrayList<>();
    long numel = 0;
    for (int i = units.size() - 1; i >= 0; i--) {
      open.add(0, units.get(i));
      numel += units.get(i).paddedNumel();
      if (numel >= bucketNumel || open.size() == maxUnits) {
        out.add(new ReduceBucket(open));
        open.clear();
        numel = 0;
      }
    }
    if (!open.isEmpty()) {
      out.add(new ReduceBucket(open));
    }
    return out;
  }

  /** The staging buffer's elements: one section per rank. */
  long stagingNumel(int world) {
    return section * world;
  }

  /** Calls {@code piece} for each part of {@code u}'s flat range {@code [lo, lo + n)}. */
  void forEachPiece(UnitParams u, long lo, long n, Piece piece) {
    long chunk = u.chunk();
    long off = sectionOffset[u.index() - first];
    long end = lo + n;
    long x = lo;
    while (x < end) {
      long r = x / chunk;
      long pieceEnd = Math.min(end, (r + 1) * chunk);
      piece.accept(r * section + off + (x - r * chunk), x, pieceEnd - x);
      x = pieceEnd;
    }
  }
}
