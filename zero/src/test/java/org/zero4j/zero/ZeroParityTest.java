package org.zero4j.zero;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.kernels.adam.TorchAdam;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Stages 0-2 at world sizes 1, 2 and 4 against single-process libtorch Adam/AdamW on the same
 * global batch. Tolerance 1e-5 max abs: the sum over ranks of per-rank means differs from the
 * single-process mean in the last bits, the fused kernel rounds its per-step constants once in fp32
 * where libtorch uses double, and Adam divides by sqrt(v), which amplifies such differences for
 * near-zero v over 10 steps; the observed difference is around 1e-7.
 */
class ZeroParityTest {

  private static final int STEPS = 10;
  private static final int ROWS = 12;
  private static final long SEED = 42;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  /**
   * Every stage x world size x {Adam, AdamW} x {fused kernel, libtorch ops}, with bucket sizes that
   * vary so that one bucket, several buckets and a bucket per tensor all occur.
   */
  static Stream<Arguments> grid() {
    Stream.Builder<Arguments> b = Stream.builder();
    long[] buckets = {64, 1000, 7};
    int i = 0;
    for (int stage = 0; stage <= 2; stage++) {
      for (int world : new int[] {1, 2, 4}) {
        for (boolean adamW : new boolean[] {true, false}) {
          for (boolean fused : new boolean[] {true, false}) {
            b.add(Arguments.of(stage, world, adamW, buckets[i++ % buckets.length], fused));
          }
        }
      }
    }
    return b.build();
  }

  @ParameterizedTest(name = "stage {0}, world {1}, adamW {2}, bucket {3}, fused kernel {4}")
  @MethodSource("grid")
  void matchesSingleProcessLibtorch(
      int stage, int world, boolean adamW, long bucket, boolean fused) {
    AdamHyperparams hp = new AdamHyperparams(0.01, 0.9, 0.99, 1e-8, 0.1, adamW, true);
    List<Tensor> expected = TorchReference.train(hp, STEPS, ROWS, SEED, 0.0, step -> hp.lr());
    List<List<Tensor>> actual =
        LocalRanks.run(
            world,
            Duration.ofSeconds(60),
            comm -> {
              TinyMlp model = TinyMlp.create(SEED);
              ZeroOptimizer.Options opts =
                  new ZeroOptimizer.Options(
                      stage,
                      Precision.FP32,
                      Precision.FP32,
                      bucket,
                      bucket,
                      true,
                      true,
                      true,
                      true);
              try (ZeroOptimizer zero =
                  new ZeroOptimizer(
                      model.named(), opts, comm, fused ? new CpuAdam(1) : new TorchAdam())) {
                int local = ROWS / world;
                for (int step = 1; step <= STEPS; step++) {
                  Tensor[] b = TinyMlp.batch(SEED, step, ROWS);
                  Tensor x = b[0].narrow(0, (long) comm.rank() * local, local);
                  Tensor y = b[1].narrow(0, (long) comm.rank() * local, local);
                  zero.beforeBackward();
                  model.loss(x, y).backward();
                  zero.afterBackward();
                  StepResult r = zero.step(hp, step, 1.0, 0.0);
                  assertTrue(!r.skipped());
                }
                List<Tensor> out = new ArrayList<>();
                for (NamedParameter p : model.named()) {
                  out.add(p.tensor().detach().clone());
                }
                return out;
              }
            });
    for (int r = 0; r < world; r++) {
      for (int i = 0; i < expected.size(); i++) {
        double diff = actual.get(r).get(i).sub(expected.get(i)).abs().max().item_double();
        assertTrue(diff <= 1e-5, "rank " + r + " param " + i + " differs by " + diff);
      }
    }
  }
}
