package org.zero4j.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.zero4j.engine.Engine;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Checkpoints with {@code offload_optimizer}: {@code cpu} resumes bit-exactly (and loads into a run
 * without offload), {@code nvme} is refused with a clear message rather than saved incompletely.
 */
class OffloadCheckpointTest {

  @TempDir Path tmp;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  private static String withOffload(String json, String block) {
    return json.replace("\"overlap_comm\": true", "\"overlap_comm\": true, " + block);
  }

  @ParameterizedTest(name = "stage {0}, offload cpu")
  @ValueSource(ints = {1, 2})
  void cpuOffloadResumesBitExactly(int stage) {
    String plain = CheckpointRuns.config(stage, "bf16");
    String json = withOffload(plain, "\"offload_optimizer\": {\"device\": \"cpu\"}");
    assertTrue(!json.equals(plain), "test premise: offload configured");
    Path dir = tmp.resolve("ckpt");
    LocalRanks.run(
        2,
        Duration.ofSeconds(60),
        comm -> {
          OddMlp a = OddMlp.create(CheckpointRuns.SEED);
          List<Double> ref;
          List<Tensor> refParams;
          try (Engine e = CheckpointRuns.start(a, json, comm)) {
            CheckpointRuns.train(e, a, 0, 3);
            e.saveCheckpoint(dir, null, Map.of());
            ref = CheckpointRuns.train(e, a, 3, 6);
            refParams = a.snapshot();
          }
          for (String config : List.of(json, plain)) { // into offload, and into no offload
            OddMlp b = OddMlp.create(CheckpointRuns.SEED + 1);
            try (Engine e = CheckpointRuns.start(b, config, comm)) {
              e.loadCheckpoint(dir, null, true, true, false);
              assertEquals(ref, CheckpointRuns.train(e, b, 3, 6));
              CheckpointRuns.assertBitEqual(refParams, b.snapshot(), "after resume");
            }
          }
          return null;
        });
  }

  @Test
  void nvmeOffloadIsRefused() {
    Path swap = tmp.resolve("swap");
    swap.toFile().mkdirs();
    String json =
        withOffload(
            CheckpointRuns.config(2, "fp32"),
            "\"offload_optimizer\": {\"device\": \"nvme\", \"nvme_path\": \"" + swap + "\"}");
    LocalRanks.run(
        1,
        Duration.ofSeconds(60),
        comm -> {
          OddMlp a = OddMlp.create(CheckpointRuns.SEED);
          try (Engine e = CheckpointRuns.start(a, json, comm)) {
            CheckpointRuns.train(e, a, 0, 1);
            IllegalArgumentException ex =
                assertThrows(
                    IllegalArgumentException.class,
                    () -> e.saveCheckpoint(tmp.resolve("ckpt"), null, Map.of()));
            assertTrue(ex.getMessage().contains("offload_optimizer.device=nvme"), ex.getMessage());
            assertTrue(ex.getMessage().contains("not supported yet"), ex.getMessage());
          }
          return null;
        });
  }
}
