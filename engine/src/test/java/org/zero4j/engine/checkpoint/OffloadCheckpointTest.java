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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zero4j.engine.Engine;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Checkpoints with {@code offload_optimizer} {@code cpu} and {@code nvme} resume bit-exactly, load
 * into a run without offload, and a checkpoint saved without offload loads into an offloaded run.
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

  @ParameterizedTest(name = "stage {0}, offload {1}")
  @CsvSource({
    "1,cpu",
    "2,cpu",
    "1,nvme",
    "2,nvme",
    "3,cpu",
    "3,nvme",
    "3,param-cpu",
    "3,param-nvme"
  })
  void offloadResumesBitExactly(int stage, String device) {
    String plain = CheckpointRuns.config(stage, "bf16");
    Path swap = tmp.resolve("swap");
    swap.toFile().mkdirs();
    // NVMe: sub-groups of 100 elements, so state is read and written across sub-group boundaries
    String block =
        switch (device) {
          case "cpu" -> "\"offload_optimizer\": {\"device\": \"cpu\"}";
          case "nvme" ->
              "\"sub_group_size\": 100, \"offload_optimizer\": {\"device\": \"nvme\","
                  + " \"nvme_path\": \""
                  + swap
                  + "\"}";
          case "param-cpu" ->
              "\"offload_optimizer\": {\"device\": \"cpu\"}, \"offload_param\": {\"device\": \"cpu\"}";
          default ->
              "\"offload_optimizer\": {\"device\": \"nvme\", \"nvme_path\": \""
                  + swap
                  + "\"}, \"offload_param\": {\"device\": \"nvme\", \"nvme_path\": \""
                  + swap
                  + "\"}";
        };
    String json = withOffload(plain, block);
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
            refParams = CheckpointRuns.params(e, a);
          }
          for (String config : List.of(json, plain)) { // into offload, and into no offload
            OddMlp b = OddMlp.create(CheckpointRuns.SEED + 1);
            try (Engine e = CheckpointRuns.start(b, config, comm)) {
              e.loadCheckpoint(dir, null, true, true, false);
              assertEquals(ref, CheckpointRuns.train(e, b, 3, 6), config);
              CheckpointRuns.assertBitEqual(refParams, CheckpointRuns.params(e, b), "after resume");
            }
          }
          // and a checkpoint without offload into an offloaded run
          try (Engine e =
              CheckpointRuns.start(OddMlp.create(CheckpointRuns.SEED + 2), plain, comm)) {
            e.loadCheckpoint(dir, null, true, true, false);
            e.saveCheckpoint(dir, "plain", Map.of());
          }
          OddMlp c = OddMlp.create(CheckpointRuns.SEED + 1);
          try (Engine e = CheckpointRuns.start(c, json, comm)) {
            e.loadCheckpoint(dir, "plain", true, true, false);
            assertEquals(ref, CheckpointRuns.train(e, c, 3, 6), "plain checkpoint into offload");
            CheckpointRuns.assertBitEqual(refParams, CheckpointRuns.params(e, c), "after resume");
          }
          return null;
        });
  }

  @Test
  void nvmeCheckpointLoadsAtAnotherWorldSizeAndStage() {
    Path swap = tmp.resolve("swap");
    swap.toFile().mkdirs();
    String nvme =
        "\"sub_group_size\": 100, \"offload_optimizer\": {\"device\": \"nvme\", \"nvme_path\": \""
            + swap
            + "\"}";
    String saveJson = withOffload(CheckpointRuns.config(2, "fp32"), nvme);
    String loadJson = withOffload(CheckpointRuns.config(1, "fp32"), nvme);
    Path dir = tmp.resolve("ckpt");
    List<Object> saved =
        LocalRanks.run(
                2,
                Duration.ofSeconds(60),
                comm -> {
                  OddMlp a = OddMlp.create(CheckpointRuns.SEED);
                  try (Engine e = CheckpointRuns.start(a, saveJson, comm)) {
                    CheckpointRuns.train(e, a, 0, 3);
                    List<Tensor> atSave = a.snapshot();
                    e.saveCheckpoint(dir, null, Map.of());
                    CheckpointRuns.train(e, a, 3, 6);
                    return List.<Object>of(atSave, a.snapshot());
                  }
                })
            .get(0);
    LocalRanks.run(
        1,
        Duration.ofSeconds(60),
        comm -> {
          OddMlp b = OddMlp.create(CheckpointRuns.SEED + 1);
          try (Engine e = CheckpointRuns.start(b, loadJson, comm)) {
            e.loadCheckpoint(dir, null, true, true, false);
            @SuppressWarnings("unchecked")
            List<Tensor> atSave = (List<Tensor>) saved.get(0);
            @SuppressWarnings("unchecked")
            List<Tensor> continued = (List<Tensor>) saved.get(1);
            CheckpointRuns.assertBitEqual(atSave, b.snapshot(), "parameters right after load");
            CheckpointRuns.train(e, b, 3, 6);
            // 2 and 1 ranks sum gradients in different orders: fp32 rounding only
            double diff = CheckpointRuns.maxAbsDiff(continued, b.snapshot());
            assertTrue(diff <= 1e-5, "3 steps on differ from the saving run's by " + diff);
          }
          return null;
        });
  }
}
