package org.zero4j.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
 * A checkpoint saved by N ranks loads on M ranks (and at another stage) with no conversion step:
 * the parameters right after the load are bit-identical to those saved, and the next 5 steps track
 * both the saving run continued without interruption and an uninterrupted M-rank run, within fp32
 * rounding.
 *
 * <p>Tolerance 1e-5 max abs, as in the parity tests: N and M ranks sum gradients in different
 * orders, so the trajectories agree only up to fp32 rounding. A load that lost the Adam moments or
 * the step count would be off by about the learning rate (1e-2) at once.
 */
class WorldSizeChangeTest {

  private static final int K = 4;
  private static final int MORE = 5;
  private static final double TOLERANCE = 1e-5;

  @TempDir Path tmp;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  private record Saved(List<Tensor> atSave, List<Double> continued, List<Tensor> finalParams) {}

  private record Resumed(
      List<Tensor> afterLoad,
      List<Double> losses,
      List<Tensor> finalParams,
      List<Double> refLosses,
      List<Tensor> refParams) {}

  @ParameterizedTest(name = "stage {0} x {2} ranks -> stage {1} x {3} ranks")
  @CsvSource({
    "0,0,2,1", "0,0,1,2", "0,0,2,4", "0,0,4,2",
    "1,1,2,1", "1,1,1,2", "1,1,2,4", "1,1,4,2",
    "2,2,2,1", "2,2,1,2", "2,2,2,4", "2,2,4,2",
    "2,0,2,1", "0,2,1,2", "1,2,4,2"
  })
  void resumesAtAnotherWorldSize(int fromStage, int toStage, int from, int to) {
    Path dir = tmp.resolve("ckpt");
    String saveJson = CheckpointRuns.config(fromStage, "fp32");
    String loadJson = CheckpointRuns.config(toStage, "fp32");
    Saved saved =
        LocalRanks.run(
                from,
                Duration.ofSeconds(60),
                comm -> {
                  OddMlp a = OddMlp.create(CheckpointRuns.SEED);
                  try (Engine e = CheckpointRuns.start(a, saveJson, comm)) {
                    CheckpointRuns.train(e, a, 0, K);
                    List<Tensor> atSave = a.snapshot();
                    e.saveCheckpoint(dir, null, Map.of());
                    List<Double> more = CheckpointRuns.train(e, a, K, K + MORE);
                    return new Saved(atSave, CheckpointRuns.globalMeans(e, more), a.snapshot());
                  }
                })
            .get(0);
    List<Resumed> resumed =
        LocalRanks.run(
            to,
            Duration.ofSeconds(60),
            comm -> {
              OddMlp b = OddMlp.create(CheckpointRuns.SEED + 1);
              List<Tensor> afterLoad;
              List<Double> losses;
              List<Tensor> finalParams;
              try (Engine e = CheckpointRuns.start(b, loadJson, comm)) {
                LoadedCheckpoint l = e.loadCheckpoint(dir, null, true, true, false);
                assertEquals(from, l.savedWorldSize());
                afterLoad = b.snapshot();
                losses = CheckpointRuns.globalMeans(e, CheckpointRuns.train(e, b, K, K + MORE));
                finalParams = b.snapshot();
              }
              OddMlp c = OddMlp.create(CheckpointRuns.SEED);
              try (Engine e = CheckpointRuns.start(c, loadJson, comm)) {
                CheckpointRuns.train(e, c, 0, K);
                List<Double> ref =
                    CheckpointRuns.globalMeans(e, CheckpointRuns.train(e, c, K, K + MORE));
                return new Resumed(afterLoad, losses, finalParams, ref, c.snapshot());
              }
            });
    for (Resumed r : resumed) {
      CheckpointRuns.assertBitEqual(saved.atSave(), r.afterLoad(), "parameters right after load");
      for (int s = 0; s < MORE; s++) {
        assertEquals(saved.continued().get(s), r.losses().get(s), TOLERANCE, "loss, step " + s);
        assertEquals(r.refLosses().get(s), r.losses().get(s), TOLERANCE, "loss vs M-rank run");
      }
      double vsSaver = CheckpointRuns.maxAbsDiff(saved.finalParams(), r.finalParams());
      double vsM = CheckpointRuns.maxAbsDiff(r.refParams(), r.finalParams());
      assertTrue(vsSaver <= TOLERANCE, "params differ from the saving run's by " + vsSaver);
      assertTrue(vsM <= TOLERANCE, "params differ from the uninterrupted M-rank run's by " + vsM);
    }
  }
}
