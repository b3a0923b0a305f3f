package org.zero4j.benchmarks;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Time of Gloo's all-reduce, reduce-scatter and all-gather on the same buffer, on 2 ranks in one
 * run: what ZeRO stages 1-2 pay (reduce-scatter + all-gather) against what stage 0 pays
 * (all-reduce). {@code reduce_scatter} is c10d's {@code _reduce_scatter_base} (an all-reduce of a
 * clone on Gloo); {@code rs_all_to_all} is {@link
 * org.zero4j.zero.comm.Collectives#reduceScatterByAllToAll}, what stages 1-2 use. Best of 25 after
 * 5 warm-up iterations, per size.
 *
 * <p>Run: {@code bin/zero4j bench comm [--sizes 500000,826112,4000000]}
 */
public final class CollectivesBench {

  private CollectivesBench() {}

  public static void main(String[] args) {
    String sizes =
        args.length >= 2 && args[0].equals("--sizes") ? args[1] : "500000,826112,4000000";
    System.out.println(
        "elements  MB(fp32)  all_reduce_ms  reduce_scatter_ms  all_gather_ms  (rs+ag)/ar"
            + "  rs_all_to_all_ms  (rs_a2a+ag)/ar");
    for (String s : sizes.split(",")) {
      long n = Long.parseLong(s.trim()) / 2 * 2;
      double[] best = LocalRanks.run(2, Duration.ofMinutes(2), c -> measure(c, n)).get(0);
      System.out.printf(
          Locale.ROOT,
          "%8d  %8.1f  %13.2f  %17.2f  %13.2f  %10.2f  %16.2f  %14.2f%n",
          n,
          n * 4 / 1e6,
          best[0],
          best[1],
          best[2],
          (best[1] + best[2]) / best[0],
          best[3],
          (best[3] + best[2]) / best[0]);
    }
  }

  private static double[] measure(org.zero4j.zero.comm.Collectives c, long n) {
    torch.set_num_threads(1);
    Tensor full = torch.randn(n);
    Tensor half = torch.empty(n / 2);
    Tensor scratch = torch.empty(n);
    double[] best = {Double.MAX_VALUE, Double.MAX_VALUE, Double.MAX_VALUE, Double.MAX_VALUE};
    for (int it = 0; it < 30; it++) {
      List<Runnable> ops =
          List.of(
              () -> c.allReduce(full).await(),
              () -> c.reduceScatter(half, full).await(),
              () -> c.allGather(full, half).await(),
              () -> c.reduceScatterByAllToAll(half, full, scratch).await());
      for (int k = 0; k < ops.size(); k++) {
        c.barrier();
        long t0 = System.nanoTime();
        ops.get(k).run();
        double ms = (System.nanoTime() - t0) / 1e6;
        if (it >= 5) {
          best[k] = Math.min(best[k], ms);
        }
      }
    }
    return best;
  }
}
