package org.zero4j.zero;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.TorchAdam;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Stage 2's reductions against stage 1 (all-to-all reduce-scatter) on 2 ranks, where they must
 * agree bit for bit with one micro-step per step: each sums the two ranks' gradients once (a + b)
 * and adds nothing else. Stage 2 runs with {@code reduce_scatter} on (all-to-all) and off
 * (all-reduce), {@code overlap_comm} on and off, and small buckets, so staging buffers are reused
 * across buckets and steps; in step 2 the first layer gets no gradient, so its slots in a reused
 * buffer must be zeroed rather than keep step 1's values.
 */
class Stage2ReductionTest {

  private static final int ROWS = 8;
  private static final long SEED = 11;

  private static List<Tensor> train(int stage, boolean reduceScatter, boolean overlap) {
    return LocalRanks.run(
            2,
            Duration.ofSeconds(60),
            comm -> {
              torch.set_num_threads(1);
              TinyMlp model = TinyMlp.create(SEED);
              ZeroOptimizer.Options opts =
                  new ZeroOptimizer.Options(
                      stage,
                      Precision.FP32,
                      Precision.FP32,
                      50,
                      50,
                      overlap,
                      reduceScatter,
                      true,
                      true);
              AdamHyperparams hp = new AdamHyperparams(0.01, 0.9, 0.99, 1e-8, 0.1, true, true);
              try (ZeroOptimizer zero =
                  new ZeroOptimizer(model.named(), opts, comm, new TorchAdam())) {
                int local = ROWS / 2;
                for (int step = 1; step <= 4; step++) {
                  Tensor[] b = TinyMlp.batch(SEED, step, ROWS);
                  Tensor x = b[0].narrow(0, (long) comm.rank() * local, local);
                  Tensor y = b[1].narrow(0, (long) comm.rank() * local, local);
                  zero.beforeBackward();
                  if (step == 2) { // l1 unused: its gradient is zero
                    Tensor hidden = torch.tanh(model.l1.forward(x)).detach();
                    torch.mse_loss(model.l2.forward(hidden), y).backward();
                  } else {
                    model.loss(x, y).backward();
                  }
                  zero.afterBackward();
                  zero.step(hp, step, 1.0, 1.0);
                }
                List<Tensor> out = new ArrayList<>();
                for (NamedParameter p : model.named()) {
                  out.add(p.tensor().detach().clone());
                }
                return out;
              }
            })
        .get(0);
  }

  @Test
  void stageTwoReductionsMatchStageOneExactly() {
    List<Tensor> reference = train(1, true, true);
    for (boolean reduceScatter : new boolean[] {true, false}) {
      for (boolean overlap : new boolean[] {true, false}) {
        List<Tensor> got = train(2, reduceScatter, overlap);
        for (int i = 0; i < reference.size(); i++) {
          double diff = got.get(i).sub(reference.get(i)).abs().max().item_double();
          assertEquals(
              0.0,
              diff,
              "parameter "
                  + i
                  + " with reduce_scatter="
                  + reduceScatter
                  + " overlap_comm="
                  + overlap);
        }
      }
    }
    List<Tensor> allReduced = train(1, false, true);
    for (int i = 0; i < reference.size(); i++) {
      double diff = allReduced.get(i).sub(reference.get(i)).abs().max().item_double();
      assertEquals(0.0, diff, "stage 1 parameter " + i + " with reduce_scatter=false");
    }
  }
}
