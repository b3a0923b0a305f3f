package org.zero4j.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.TinyMlp;
import org.zero4j.zero.TorchReference;
import org.zero4j.zero.comm.LocalRanks;

/** fp16 dynamic loss scaling in the engine, with inf and NaN gradients injected. */
class LossScalingTest {

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  @ParameterizedTest(name = "stage {0}, inject {1}")
  @CsvSource({"2,inf", "1,nan", "0,inf"})
  void scaleFallsOnOverflowAndRisesAfterTheWindow(int stage, String poison) {
    double bad = poison.equals("inf") ? Double.POSITIVE_INFINITY : Double.NaN;
    String fp16 =
        "\"fp16\": {\"enabled\": true, \"initial_scale_power\": 8, \"loss_scale_window\": 3,"
            + " \"hysteresis\": 1, \"min_loss_scale\": 1}";
    String json = RankRuns.config(stage, 1, fp16);
    List<List<Double>> scales =
        LocalRanks.run(
            2,
            Duration.ofSeconds(120),
            comm -> {
              TinyMlp model = TinyMlp.create(RankRuns.SEED);
              Engine engine = Zero4j.setup(model.named()).config(json).collectives(comm).start();
              List<Double> seen = new ArrayList<>();
              for (int step = 1; step <= 8; step++) {
                Tensor[] b = TinyMlp.batch(RankRuns.SEED, step, RankRuns.ROWS);
                int rows = RankRuns.ROWS / 2;
                var dtype = model.l1.weight().scalar_type();
                Tensor loss =
                    model.loss(
                        b[0].narrow(0, (long) comm.rank() * rows, rows).to(dtype),
                        b[1].narrow(0, (long) comm.rank() * rows, rows).to(dtype));
                // Only rank 1 overflows: the skip decision must still be global.
                if ((step == 3 || step == 4) && comm.rank() == 1) {
                  loss = loss.mul(new Scalar(bad));
                }
                List<Tensor> before = snapshot(model);
                seen.add(engine.lossScale());
                engine.backward(loss);
                engine.step();
                double moved = TorchReference.maxAbsDiff(before, snapshot(model));
                if (step == 3 || step == 4) {
                  assertEquals(0.0, moved, "params must not change on a skipped step");
                } else {
                  assertTrue(moved > 0, "params must change on a clean step " + step);
                }
              }
              seen.add(engine.lossScale());
              assertEquals(2, engine.skippedSteps());
              assertEquals(8, engine.globalSteps());
              engine.close();
              return seen;
            });
    // DeepSpeed's current rule with hysteresis 1: halve at each overflow (iterations 2 and 3,
    // i.e. steps 3 and 4), then double when stable_interval = cur_iter - last_overflow_iter - 1
    // is a positive multiple of loss_scale_window (3): at iteration 7, after step 8.
    List<Double> expected = List.of(256.0, 256.0, 256.0, 128.0, 64.0, 64.0, 64.0, 64.0, 128.0);
    assertEquals(expected, scales.get(0));
    assertEquals(expected, scales.get(1));
  }

  private static List<Tensor> snapshot(TinyMlp model) {
    List<Tensor> out = new ArrayList<>();
    for (NamedParameter p : model.named()) {
      out.add(p.tensor().detach().clone());
    }
    return out;
  }
}
