package org.zero4j.engine.data;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;

/**
 * Splits dataset indices {@code 0..n-1} into one disjoint shard per data-parallel rank, with the
 * semantics of PyTorch's {@code torch.utils.data.DistributedSampler}.
 *
 * <p>Per epoch: the index list is {@code 0..n-1}, or with {@code shuffle} a permutation drawn from
 * {@code seed + epoch}. Without {@code dropLast} it is padded to a multiple of the world size by
 * repeating its own head (wrapping as often as needed), so {@code numSamples = ceil(n / world)};
 * with {@code dropLast} the tail is cut, {@code numSamples = floor(n / world)}. Rank {@code r}
 * takes positions {@code r, r + world, r + 2 world, ...}. Every rank therefore has the same count,
 * the shards are disjoint up to the padding, and every rank computes the same permutation on its
 * own.
 *
 * <p>The shuffle is a Fisher-Yates pass driven by {@link SplittableRandom}{@code (seed + epoch)}
 * (for {@code i} from {@code n-1} down to 1, swap {@code i} with {@code nextInt(i + 1)}), so orders
 * are stable across JVMs and releases but differ from PyTorch's {@code randperm}.
 */
public final class DistributedSampler {
  private final int datasetSize;
  private final int worldSize;
  private final int rank;
  private final boolean shuffle;
  private final long seed;
  private final boolean dropLast;
  private long epoch;

  /**
   * @param datasetSize number of samples n, &gt; 0 (with {@code dropLast}, at least worldSize)
   * @param worldSize number of data-parallel ranks, &gt; 0
   * @param rank this rank, in [0, worldSize)
   * @param shuffle whether each epoch uses a fresh permutation
   * @param seed base seed of the permutation; must be equal on every rank
   * @param dropLast cut the tail instead of padding it
   */
  public DistributedSampler(
      int datasetSize, int worldSize, int rank, boolean shuffle, long seed, boolean dropLast) {
    if (worldSize <= 0) {
      throw new IllegalArgumentException("world size must be > 0, got " + worldSize);
    }
    if (rank < 0 || rank >= worldSize) {
      throw new IllegalArgumentException(
          "rank " + rank + " is outside [0, " + worldSize + ") for world size " + worldSize);
    }
    if (datasetSize <= 0 || (dropLast && datasetSize < worldSize)) {
      throw new IllegalArgumentException(
          "a dataset of "
              + datasetSize
              + " samples cannot give each of "
              + worldSize
              + " ranks a sample"
              + (dropLast ? " with drop_last" : "")
              + "; use more data or fewer ranks");
    }
    this.datasetSize = datasetSize;
    this.worldSize = worldSize;
    this.rank = rank;
    this.shuffle = shuffle;
    this.seed = seed;
    this.dropLast = dropLast;
  }

  /** Selects the epoch whose permutation {@link #indices()} returns; call it before each epoch. */
  public void setEpoch(long epoch) {
    this.epoch = epoch;
  }

  /** The current epoch (0 until {@link #setEpoch} is called). */
  public long epoch() {
    return epoch;
  }

  /** Samples per rank per epoch; equal on every rank. */
  public int numSamples() {
    return dropLast ? datasetSize / worldSize : (datasetSize + worldSize - 1) / worldSize;
  }

  /** Samples per epoch over all ranks: {@code numSamples() * worldSize}. */
  public int totalSize() {
    return numSamples() * worldSize;
  }

  /** This rank's dataset indices for the current epoch, in order. */
  public int[] indices() {
    int[] order = new int[datasetSize];
    for (int i = 0; i < datasetSize; i++) {
      order[i] = i;
    }
    if (shuffle) {
      SplittableRandom random = new SplittableRandom(seed + epoch);
      for (int i = datasetSize - 1; i > 0; i--) {
        int j = random.nextInt(i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
    }
    int[] mine = new int[numSamples()];
    for (int k = 0; k < mine.length; k++) {
      mine[k] = order[(rank + k * worldSize) % datasetSize];
    }
    return mine;
  }

  /** Full micro batches per rank per epoch: {@code numSamples() / microBatchSize}. */
  public int numBatches(int microBatchSize) {
    checkMicroBatch(microBatchSize);
    return numSamples() / microBatchSize;
  }

  /** This epoch's micro batches of {@link #indices()}; see {@link #batches(int, int)}. */
  public Iterator<int[]> batches(int microBatchSize) {
    return batches(microBatchSize, 0);
  }

  /**
   * This epoch's micro batches of {@link #indices()} in order, starting after the first {@code
   * skip} (to resume mid-epoch). Only full batches are produced, so every step has the same shape
   * and every rank the same number of steps; the last {@code numSamples() % microBatchSize} indices
   * are left out of the epoch.
   */
  public Iterator<int[]> batches(int microBatchSize, int skip) {
    int count = numBatches(microBatchSize);
    if (skip < 0 || skip > count) {
      throw new IllegalArgumentException(
          "cannot skip " + skip + " batches of an epoch with " + count + " batches");
    }
    int[] all = indices();
    return new Iterator<>() {
      private int next = skip;

      @Override
      public boolean hasNext() {
        return next < count;
      }

      @Override
      public int[] next() {
        if (!hasNext()) {
          throw new NoSuchElementException("epoch " + epoch + " has only " + count + " batches");
        }
        int[] batch = new int[microBatchSize];
        System.arraycopy(all, next * microBatchSize, batch, 0, microBatchSize);
        next++;
        return batch;
      }
    };
  }

  private static void checkMicroBatch(int microBatchSize) {
    if (microBatchSize <= 0) {
      throw new IllegalArgumentException(
          "train_micro_batch_size_per_gpu must be > 0, got " + microBatchSize);
    }
  }
}
