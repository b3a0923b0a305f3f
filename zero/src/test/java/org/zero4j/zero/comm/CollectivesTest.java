package org.zero4j.zero.comm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.zero4j.zero.Precision;

class CollectivesTest {

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  /**
   * Rank r's deterministic random input, so every rank can compute the expected sum. Ranks are
   * threads sharing libtorch's global generator, hence the lock.
   */
  private static synchronized Tensor input(int rank, long n, Precision p) {
    torch.manual_seed(1000 + rank);
    return torch.randn(n).to(p.scalarType());
  }

  @Test
  void reduceScatterAndAllGatherMatchLocalSum() {
    int world = 3;
    long chunk = 1031; // odd on purpose
    List<double[]> maxErrs =
        LocalRanks.run(
            world,
            Duration.ofSeconds(60),
            c -> {
              Tensor expected = torch.zeros(chunk * world);
              for (int r = 0; r < world; r++) {
                expected.add_(input(r, chunk * world, Precision.FP32));
              }
              Tensor in = input(c.rank(), chunk * world, Precision.FP32);
              Tensor out = torch.empty(chunk);
              c.reduceScatter(out, in).await();
              double rsErr =
                  out.sub(expected.narrow(0, c.rank() * chunk, chunk)).abs().max().item_double();
              Tensor gathered =
                  torch.full(
                      new long[] {chunk * world}, new org.bytedeco.pytorch.Scalar(Float.NaN));
              c.allGather(gathered, out).await();
              double agErr = gathered.sub(expected).abs().max().item_double();
              Tensor all = in.clone();
              c.allReduce(all).await();
              double arErr = all.sub(expected).abs().max().item_double();
              assertEquals(chunk * world * 4L, c.stats().bytes(CommStats.Op.REDUCE_SCATTER));
              assertEquals(chunk * world * 4L, c.stats().bytes(CommStats.Op.ALL_GATHER));
              assertEquals(2 * chunk * world * 4L, c.stats().bytes(CommStats.Op.ALL_REDUCE));
              return new double[] {rsErr, agErr, arErr};
            });
    for (double[] e : maxErrs) {
      // Sums of 3 floats in a different order differ by a few ulps at most.
      assertTrue(e[0] < 1e-5 && e[1] < 1e-5 && e[2] < 1e-5, java.util.Arrays.toString(e));
    }
  }

  @Test
  void inPlaceReduceScatterMatchesAndCountsGlooTransport() {
    int world = 2;
    long chunk = 333;
    List<Double> errs =
        LocalRanks.run(
            world,
            Duration.ofSeconds(60),
            c -> {
              Tensor expected =
                  input(0, chunk * world, Precision.FP32)
                      .add(input(1, chunk * world, Precision.FP32));
              Tensor scratch = input(c.rank(), chunk * world, Precision.FP32);
              Tensor out =
                  torch.full(new long[] {chunk}, new org.bytedeco.pytorch.Scalar(Float.NaN));
              c.reduceScatterInPlace(out, scratch).await();
              // logical volume: ZeRO's reduce-scatter (its input); transport: Gloo's all-reduce
              assertEquals(chunk * world * 4L, c.stats().bytes(CommStats.Op.REDUCE_SCATTER));
              assertEquals(
                  2 * chunk * world * 4L, c.stats().transportBytes(CommStats.Op.REDUCE_SCATTER));
              return out.sub(expected.narrow(0, c.rank() * chunk, chunk)).abs().max().item_double();
            });
    for (double e : errs) {
      assertTrue(e < 1e-5, "error " + e);
    }
  }

  @Test
  void allToAllReduceScatterMatchesAndMovesAReduceScattersBytes() {
    for (int world : new int[] {2, 3}) {
      long chunk = 1031; // odd on purpose
      List<double[]> errs =
          LocalRanks.run(
              world,
              Duration.ofSeconds(60),
              c -> {
                Tensor expected = torch.zeros(chunk * world).to(torch.ScalarType.Double);
                for (int r = 0; r < world; r++) {
                  expected.add_(
                      input(r, chunk * world, Precision.FP32).to(torch.ScalarType.Double));
                }
                Tensor in = input(c.rank(), chunk * world, Precision.FP32);
                Tensor untouched = in.clone();
                Tensor scratch = torch.empty(chunk * world);
                Tensor out =
                    torch.full(new long[] {chunk}, new org.bytedeco.pytorch.Scalar(Float.NaN));
                c.reduceScatterByAllToAll(out, in, scratch).await();
                double inChanged = in.sub(untouched).abs().max().item_double();
                // out may be a view of the input: it is written after the exchange
                Tensor aliased = in.narrow(0, 0, chunk);
                c.reduceScatterByAllToAll(aliased, in, scratch).await();
                Tensor mine = expected.narrow(0, c.rank() * chunk, chunk);
                assertEquals(2 * chunk * world * 4L, c.stats().bytes(CommStats.Op.REDUCE_SCATTER));
                assertEquals(
                    2 * chunk * world * 4L, c.stats().transportBytes(CommStats.Op.REDUCE_SCATTER));
                return new double[] {
                  out.to(torch.ScalarType.Double).sub(mine).abs().max().item_double(),
                  aliased.to(torch.ScalarType.Double).sub(mine).abs().max().item_double(),
                  inChanged,
                  world == 2 ? out.sub(aliased).abs().max().item_double() : 0
                };
              });
      for (double[] e : errs) {
        // fp32 sums of `world` floats against the fp64 sum: a few ulps of values below 10.
        assertTrue(e[0] < 1e-5 && e[1] < 1e-5, world + " ranks: " + java.util.Arrays.toString(e));
        assertEquals(0.0, e[2], "the input changed before the exchange was over");
      }
    }
  }

  @Test
  void allToAllReduceScatterOfTwoRanksIsTheAllReducesSum() {
    for (Precision p : new Precision[] {Precision.FP32, Precision.BF16}) {
      List<Double> diffs =
          LocalRanks.run(
              2,
              Duration.ofSeconds(60),
              c -> {
                Tensor in = input(c.rank(), 2 * 517, p);
                Tensor summed = in.clone();
                c.allReduce(summed).await();
                Tensor out = torch.empty(517).to(p.scalarType());
                c.reduceScatterByAllToAll(out, in, torch.empty_like(in)).await();
                return out.to(torch.ScalarType.Double)
                    .sub(summed.narrow(0, c.rank() * 517L, 517).to(torch.ScalarType.Double))
                    .abs()
                    .max()
                    .item_double();
              });
      for (double d : diffs) {
        assertEquals(0.0, d, p + ": a + b must be bit-identical to Gloo's all-reduce");
      }
    }
  }

  @Test
  void sixteenBitReductionsWork() {
    for (Precision p : new Precision[] {Precision.BF16, Precision.FP16}) {
      List<Double> errs =
          LocalRanks.run(
              2,
              Duration.ofSeconds(60),
              c -> {
                Tensor in = input(c.rank(), 2 * 517, p);
                Tensor expected = input(0, 2 * 517, p).to(torch.ScalarType.Double);
                expected.add_(input(1, 2 * 517, p).to(torch.ScalarType.Double));
                Tensor out = torch.empty(517).to(p.scalarType());
                c.reduceScatter(out, in).await();
                return out.to(torch.ScalarType.Double)
                    .sub(expected.narrow(0, c.rank() * 517L, 517))
                    .abs()
                    .max()
                    .item_double();
              });
      for (double e : errs) {
        // One 16-bit rounding of a sum of magnitude < 10: 2^-8 * 8 for bf16.
        assertTrue(e <= 0.04, p + " error " + e);
      }
    }
  }

  @Test
  void broadcastCopiesRoot() {
    List<Double> errs =
        LocalRanks.run(
            2,
            Duration.ofSeconds(60),
            c -> {
              Tensor t = input(c.rank(), 77, Precision.FP32);
              c.broadcast(t, 1).await();
              c.barrier();
              return t.sub(input(1, 77, Precision.FP32)).abs().max().item_double();
            });
    assertEquals(List.of(0.0, 0.0), errs);
  }

  @Test
  void deadPeerFailsWithinTimeoutInsteadOfHanging() {
    long start = System.nanoTime();
    RuntimeException e =
        assertThrows(
            RuntimeException.class,
            () ->
                LocalRanks.run(
                    2,
                    Duration.ofSeconds(5),
                    c -> {
                      if (c.rank() == 1) {
                        return null; // leaves the group: closes its side without the all-reduce
                      }
                      Tensor t = torch.ones(1000);
                      c.allReduce(t).await();
                      return null;
                    }));
    double seconds = (System.nanoTime() - start) / 1e9;
    assertTrue(e instanceof CollectiveException, "got " + e);
    assertTrue(e.getMessage().contains("all-reduce"), e.getMessage());
    assertTrue(seconds < 15, "took " + seconds + " s");
  }
}
