package org.zero4j.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zero4j.engine.Engine;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Save at step k, drop the engine and the model, build fresh ones from another seed, load, train 5
 * more steps: every micro-batch loss and every parameter bit-identical to the uninterrupted run.
 */
class ResumeTest {

  private static final int K = 4;
  private static final int MORE = 5;

  @TempDir Path tmp;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  private record Outcome(
      List<Double> refLosses,
      List<Tensor> refParams,
      List<Double> losses,
      List<Tensor> params,
      LoadedCheckpoint loaded,
      double refLr,
      double lr) {}

  @ParameterizedTest(name = "stage {0}, world {1}, {2}")
  @CsvSource({
    "0,1,fp32", "1,1,fp32", "2,1,fp32", "0,2,fp32", "1,2,fp32", "2,2,fp32",
    "0,1,bf16", "1,1,bf16", "2,1,bf16", "0,2,bf16", "1,2,bf16", "2,2,bf16",
    "0,1,fp16", "2,2,fp16"
  })
  void resumeIsBitExact(int stage, int world, String precision) {
    String json = CheckpointRuns.config(stage, precision);
    Path dir = tmp.resolve("ckpt");
    List<Outcome> outcomes =
        LocalRanks.run(
            world,
            Duration.ofSeconds(60),
            comm -> {
              OddMlp a = OddMlp.create(CheckpointRuns.SEED);
              List<Double> refLosses;
              List<Tensor> refParams;
              double refLr;
              try (Engine e = CheckpointRuns.start(a, json, comm)) {
                CheckpointRuns.train(e, a, 0, K);
                refLosses = CheckpointRuns.train(e, a, K, K + MORE);
                refParams = a.snapshot();
                refLr = e.getLr();
              }
              OddMlp b = OddMlp.create(CheckpointRuns.SEED);
              try (Engine e = CheckpointRuns.start(b, json, comm)) {
                CheckpointRuns.train(e, b, 0, K);
                e.saveCheckpoint(dir, null, Map.of("epoch", 3, "note", "resume"));
              }
              OddMlp c = OddMlp.create(CheckpointRuns.SEED + 1); // different init: load must win
              try (Engine e = CheckpointRuns.start(c, json, comm)) {
                LoadedCheckpoint loaded = e.loadCheckpoint(dir, null, true, true, false);
                List<Double> losses = CheckpointRuns.train(e, c, K, K + MORE);
                return new Outcome(
                    refLosses, refParams, losses, c.snapshot(), loaded, refLr, e.getLr());
              }
            });
    for (Outcome o : outcomes) {
      assertEquals("global_step" + K, o.loaded().tag());
      assertEquals(Map.of("epoch", 3, "note", "resume"), o.loaded().clientState());
      assertEquals(o.refLosses(), o.losses(), "losses after resume");
      CheckpointRuns.assertBitEqual(o.refParams(), o.params(), "parameters after resume");
      assertEquals(o.refLr(), o.lr(), 0.0, "LR schedule position");
    }
    // the test would catch a resume that silently restarted: the fresh model differs
    assertNotEquals(
        0.0,
        CheckpointRuns.maxAbsDiff(
            OddMlp.create(CheckpointRuns.SEED).snapshot(),
            OddMlp.create(CheckpointRuns.SEED + 1).snapshot()));
  }
}
