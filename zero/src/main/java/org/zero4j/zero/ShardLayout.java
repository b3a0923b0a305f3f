package org.zero4j.zero;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Offset and padding arithmetic for the flat buffers of ZeRO stages 0 to 2.
 *
 * <p>Parameters are laid out back to back in one flat buffer, in <em>reverse</em> registration
 * order, because backward produces gradients roughly last layer first. The flat buffer is cut into
 * buckets of about {@code bucketNumel} elements; a parameter never straddles two buckets. Each
 * bucket is padded to a multiple of the world size and split into equal chunks, one per rank.
 *
 * <p>Note [shard = one chunk of every bucket]: rank r's shard is the concatenation of chunk r of
 * every bucket, in bucket order. This is FSDP's flat-parameter scheme rather than DeepSpeed's one
 * contiguous partition: every bucket is then exactly one {@code reduce_scatter} and one {@code
 * all_gather} with no per-rank offset bookkeeping, and the cost is at most {@code worldSize - 1}
 * padding elements per bucket.
 */
public final class ShardLayout {

  /** Where one parameter lives in the flat buffer. */
  public record Slot(int param, long offset, long numel, int bucket) {}

  /**
   * One bucket: the flat range {@code [start, start + paddedNumel)}, of which the first {@code
   * numel} elements are parameters and the rest padding. {@code shardOffset} is where this bucket's
   * chunk sits inside every rank's shard.
   */
  public record Bucket(
      int index, long start, long numel, long paddedNumel, long shardOffset, List<Integer> params) {

    /** Elements per rank in this bucket. */
    public long chunk(int worldSize) {
      return paddedNumel / worldSize;
    }
  }

  private final int worldSize;
  private final List<Slot> slots;
  private final List<Bucket> buckets;
  private final long flatNumel;

  private ShardLayout(int worldSize, List<Slot> slots, List<Bucket> buckets, long flatNumel) {
    this.worldSize = worldSize;
    this.slots = slots;
    this.buckets = buckets;
    this.flatNumel = flatNumel;
  }

  /**
   * Lays out parameters of the given sizes (in registration order) for {@code worldSize} ranks,
   * with buckets of at least {@code bucketNumel} elements (the last may be smaller).
   */
  public static ShardLayout build(long[] numels, int worldSize, long bucketNumel) {
    if (worldSize < 1) {
      throw new IllegalArgumentException("world size must be >= 1, got " + worldSize);
    }
    if (bucketNumel < 1) {
      throw new IllegalArgumentException("bucket size must be >= 1 element, got " + bucketNumel);
    }
    Slot[] slots = new Slot[numels.length];
    List<Bucket> buckets = new ArrayList<>();
    long offset = 0;
    long shardOffset = 0;
    List<Integer> current = new ArrayList<>();
    long bucketStart = 0;
    long bucketNumelSoFar = 0;
    for (int i = numels.length - 1; i >= 0; i--) {
      if (numels[i] < 0) {
        throw new IllegalArgumentException("parameter " + i + " has negative size " + numels[i]);
      }
      slots[i] = new Slot(i, offset, numels[i], buckets.size());
      current.add(i);
      offset += numels[i];
      bucketNumelSoFar += numels[i];
      if (bucketNumelSoFar >= bucketNumel || i == 0) {
        long padded = roundUp(bucketNumelSoFar, worldSize);
        buckets.add(
            new Bucket(
                buckets.size(),
                bucketStart,
                bucketNumelSoFar,
                padded,
                shardOffset,
                List.copyOf(current)));
        shardOffset += padded / worldSize;
        offset = bucketStart + padded;
        bucketStart = offset;
        bucketNumelSoFar = 0;
        current.clear();
      }
    }
    return new ShardLayout(
        worldSize, Collections.unmodifiableList(List.of(slots)), List.copyOf(buckets), offset);
  }

  private static long roundUp(long n, int multiple) {
    long r = (n + multiple - 1) / multiple * multiple;
    return Math.max(r, multiple); // an empty bucket still gives every rank one element
  }

  /** Number of ranks the layout was made for. */
  public int worldSize() {
    return worldSize;
  }

  /** The slot of every parameter, indexed by registration order. */
  public List<Slot> slots() {
    return slots;
  }

  /** Buckets in flat order (the order backward fills them). */
  public List<Bucket> buckets() {
    return buckets;
  }

  /** Elements of the flat buffer, padding included. */
  public long flatNumel() {
    return flatNumel;
  }

  /** Elements of one rank's shard: {@code flatNumel / worldSize}. */
  public long shardNumel() {
    return flatNumel / worldSize;
  }

  /** Elements that are parameters (no padding). */
  public long paramNumel() {
    long n = 0;
    for (Slot s : slots) {
      n += s.numel();
    }
    return n;
  }

  /** Offset in the flat buffer of rank {@code rank}'s chunk of bucket {@code b}. */
  public long chunkStart(Bucket b, int rank) {
    return b.start() + rank * b.chunk(worldSize);
  }
}
