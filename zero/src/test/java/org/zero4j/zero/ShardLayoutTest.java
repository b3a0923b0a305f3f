package org.zero4j.zero;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ShardLayoutTest {

  @Test
  void slotsTileBucketsAndShardsTileTheFlatBuffer() {
    SplittableRandom rnd = new SplittableRandom(7);
    for (int trial = 0; trial < 200; trial++) {
      int n = 1 + rnd.nextInt(12);
      long[] numels = new long[n];
      for (int i = 0; i < n; i++) {
        numels[i] = rnd.nextInt(5) == 0 ? 0 : 1 + rnd.nextInt(300);
      }
      int world = 1 + rnd.nextInt(5);
      long bucket = 1 + rnd.nextInt(400);
      ShardLayout layout = ShardLayout.build(numels, world, bucket);

      boolean[] covered = new boolean[(int) layout.flatNumel()];
      long paramTotal = 0;
      for (ShardLayout.Slot s : layout.slots()) {
        ShardLayout.Bucket b = layout.buckets().get(s.bucket());
        assertTrue(s.offset() >= b.start() && s.offset() + s.numel() <= b.start() + b.numel());
        for (long k = s.offset(); k < s.offset() + s.numel(); k++) {
          assertTrue(!covered[(int) k], "overlap at " + k);
          covered[(int) k] = true;
        }
        paramTotal += s.numel();
      }
      assertEquals(paramTotal, layout.paramNumel());
      long start = 0;
      long shard = 0;
      for (ShardLayout.Bucket b : layout.buckets()) {
        assertEquals(start, b.start());
        assertEquals(0, b.paddedNumel() % world);
        assertTrue(b.paddedNumel() - b.numel() < world || b.numel() == 0);
        assertEquals(shard, b.shardOffset());
        start += b.paddedNumel();
        shard += b.chunk(world);
      }
      assertEquals(start, layout.flatNumel());
      assertEquals(shard * world, layout.flatNumel());
      assertEquals(shard, layout.shardNumel());
    }
  }

  @Test
  void reverseOrderAndBucketBoundaries() {
    ShardLayout layout = ShardLayout.build(new long[] {10, 20, 5}, 2, 20);
    // reverse order: param 2 (5) then param 1 (20) closes the first bucket at 25 >= 20
    assertEquals(0, layout.slots().get(2).offset());
    assertEquals(5, layout.slots().get(1).offset());
    assertEquals(2, layout.buckets().size());
    assertEquals(26, layout.buckets().get(0).paddedNumel());
    assertEquals(26, layout.slots().get(0).offset());
    assertEquals(36, layout.flatNumel());
    assertEquals(13 + 5, layout.buckets().get(1).shardOffset() + 5);
  }
}
