package org.zero4j.engine.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.zero4j.engine.data.DistributedSampler;

class TextBatchesTest {

  @Test
  void samplesAreDisjointWindowsWithShiftedTargets() {
    SplittableRandom random = new SplittableRandom(3);
    long[] tokens = random.longs(103, 0, 50).toArray();
    TextBatches batches = new TextBatches(tokens, 10);
    assertEquals(10, batches.numSamples()); // (103 - 1) / 10
    int[] indices = {9, 0, 4};
    try (TextBatches.Batch batch = batches.batch(indices)) {
      assertArrayEquals(new long[] {3, 10}, GptModelTest.shape(batch.x()));
      long[] x = GptModelTest.longs(batch.x());
      long[] y = GptModelTest.longs(batch.y());
      for (int r = 0; r < indices.length; r++) {
        for (int j = 0; j < 10; j++) {
          assertEquals(tokens[indices[r] * 10 + j], x[r * 10 + j]);
          assertEquals(tokens[indices[r] * 10 + j + 1], y[r * 10 + j]);
        }
      }
    }
  }

  @Test
  void lastSampleReachesTheFinalTargetToken() {
    long[] tokens = new SplittableRandom(5).longs(41, 0, 9).toArray();
    TextBatches batches = new TextBatches(tokens, 8);
    assertEquals(5, batches.numSamples());
    try (TextBatches.Batch batch = batches.batch(new int[] {4})) {
      Tensor y = batch.y();
      assertEquals(tokens[40], GptModelTest.longs(y)[7]);
    }
  }

  @Test
  void ranksOfADistributedSamplerReadDisjointText() {
    String text = DemoCorpus.text();
    TextBatches batches = new TextBatches(CharTokenizer.fromText(text).encode(text), 16);
    java.util.Set<Long> offsets = new java.util.HashSet<>();
    for (int rank = 0; rank < 2; rank++) {
      DistributedSampler sampler =
          new DistributedSampler(batches.numSamples(), 2, rank, true, 1, true);
      int[] indices = sampler.batches(4).next();
      try (TextBatches.Batch batch = batches.batch(indices)) {
        assertArrayEquals(new long[] {4, 16}, GptModelTest.shape(batch.y()));
      }
      for (int i : indices) {
        assertTrue(offsets.add(batches.offset(i)), "offset " + batches.offset(i) + " read twice");
      }
    }
    assertEquals(8, offsets.size());
  }

  @Test
  void badIndicesAndShortTextsAreRejected() {
    TextBatches batches = new TextBatches(new long[21], 4);
    assertThrows(IllegalArgumentException.class, () -> batches.batch(new int[] {5}));
    assertThrows(IllegalArgumentException.class, () -> batches.batch(new int[] {-1}));
    assertThrows(IllegalArgumentException.class, () -> batches.batch(new int[0]));
    assertThrows(IllegalArgumentException.class, () -> new TextBatches(new long[4], 4));
  }
}
