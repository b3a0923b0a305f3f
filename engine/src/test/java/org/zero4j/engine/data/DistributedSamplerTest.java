package org.zero4j.engine.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.junit.jupiter.api.Test;

class DistributedSamplerTest {

  @Test
  void paddedShardsCoverTheDatasetAndRepeatOnlyTheHead() {
    int n = 103;
    int world = 4;
    int[] global = interleave(n, world, true, 9, 3, false);
    assertEquals(104, global.length); // 4 * ceil(103 / 4)
    assertTrue(isPermutation(Arrays.copyOf(global, n)), "first n positions are a permutation");
    assertEquals(global[0], global[103], "padding repeats the head of the order");
    for (int r = 0; r < world; r++) {
      assertEquals(26, new DistributedSampler(n, world, r, true, 9, false).numSamples());
    }
  }

  @Test
  void paddingWrapsRepeatedlyWhenTheWorldExceedsTheDataset() {
    int[] global = interleave(3, 8, false, 0, 0, false);
    assertArrayEquals(new int[] {0, 1, 2, 0, 1, 2, 0, 1}, global);
  }

  @Test
  void dropLastGivesDisjointEqualShards() {
    int n = 103;
    int world = 4;
    int[] global = interleave(n, world, true, 5, 2, true);
    assertEquals(100, global.length);
    boolean[] seen = new boolean[n];
    for (int i : global) {
      assertFalse(seen[i], "index " + i + " appears twice");
      seen[i] = true;
    }
    DistributedSampler s = new DistributedSampler(n, world, 3, true, 5, true);
    assertEquals(25, s.numSamples());
    assertEquals(100, s.totalSize());
  }

  @Test
  void withoutShuffleRankTakesEveryWorldthIndex() {
    DistributedSampler s = new DistributedSampler(11, 3, 2, false, 123, false);
    s.setEpoch(5);
    assertArrayEquals(new int[] {2, 5, 8, 0}, s.indices()); // 11 padded with index 0
  }

  @Test
  void sameSeedAndEpochGiveTheSameOrderAndEpochsOrSeedsDiffer() {
    DistributedSampler a = new DistributedSampler(97, 3, 1, true, 17, false);
    DistributedSampler b = new DistributedSampler(97, 3, 1, true, 17, false);
    a.setEpoch(4);
    b.setEpoch(4);
    assertArrayEquals(a.indices(), b.indices());
    assertArrayEquals(a.indices(), a.indices());
    int[] epoch4 = a.indices();
    a.setEpoch(5);
    assertFalse(Arrays.equals(epoch4, a.indices()));
    DistributedSampler other = new DistributedSampler(97, 3, 1, true, 18, false);
    other.setEpoch(4);
    assertFalse(Arrays.equals(epoch4, other.indices()));
    assertTrue(isPermutation(Arrays.copyOf(interleave(97, 3, true, 17, 5, false), 97)));
  }

  @Test
  void shuffleIsTheDocumentedFisherYatesOverSplittableRandom() {
    // Golden order for n = 10, seed 42, epoch 1 (SplittableRandom(43)); it pins the permutation
    // so that a resumed run on another JVM or release sees the same data order.
    DistributedSampler s = new DistributedSampler(10, 1, 0, true, 42, false);
    s.setEpoch(1);
    assertArrayEquals(new int[] {9, 6, 3, 0, 1, 5, 2, 8, 7, 4}, s.indices());
  }

  @Test
  void batchesSplitTheShardAndSkipResumesMidEpoch() {
    DistributedSampler s = new DistributedSampler(103, 4, 1, true, 3, false);
    s.setEpoch(2);
    int[] mine = s.indices();
    assertEquals(6, s.numBatches(4)); // 26 samples, the last 2 left out
    List<int[]> all = drain(s.batches(4));
    assertEquals(6, all.size());
    for (int b = 0; b < 6; b++) {
      assertArrayEquals(Arrays.copyOfRange(mine, 4 * b, 4 * b + 4), all.get(b));
    }
    List<int[]> resumed = drain(s.batches(4, 2));
    assertEquals(4, resumed.size());
    assertArrayEquals(all.get(2), resumed.get(0));
    assertFalse(s.batches(4, 6).hasNext());
    Iterator<int[]> done = s.batches(4, 6);
    assertThrows(NoSuchElementException.class, done::next);
    assertThrows(IllegalArgumentException.class, () -> s.batches(4, 7));
    assertThrows(IllegalArgumentException.class, () -> s.batches(0));
  }

  @Test
  void invalidShapesAreRejected() {
    assertThrows(
        IllegalArgumentException.class, () -> new DistributedSampler(10, 0, 0, true, 0, false));
    assertThrows(
        IllegalArgumentException.class, () -> new DistributedSampler(10, 2, 2, true, 0, false));
    assertThrows(
        IllegalArgumentException.class, () -> new DistributedSampler(0, 2, 0, true, 0, false));
    assertThrows(
        IllegalArgumentException.class, () -> new DistributedSampler(3, 4, 0, true, 0, true));
  }

  /** The global order rebuilt from every rank's view: position r + k * world is rank r's k-th. */
  private static int[] interleave(
      int n, int world, boolean shuffle, long seed, long epoch, boolean dropLast) {
    List<int[]> views = new ArrayList<>();
    for (int r = 0; r < world; r++) {
      DistributedSampler s = new DistributedSampler(n, world, r, shuffle, seed, dropLast);
      s.setEpoch(epoch);
      views.add(s.indices());
    }
    int per = views.get(0).length;
    int[] global = new int[per * world];
    for (int r = 0; r < world; r++) {
      assertEquals(per, views.get(r).length, "rank " + r + " count");
      for (int k = 0; k < per; k++) {
        global[r + k * world] = views.get(r)[k];
      }
    }
    return global;
  }

  private static boolean isPermutation(int[] a) {
    int[] sorted = a.clone();
    Arrays.sort(sorted);
    for (int i = 0; i < sorted.length; i++) {
      if (sorted[i] != i) {
        return false;
      }
    }
    return true;
  }

  private static List<int[]> drain(Iterator<int[]> it) {
    List<int[]> out = new ArrayList<>();
    it.forEachRemaining(out::add);
    return out;
  }
}
