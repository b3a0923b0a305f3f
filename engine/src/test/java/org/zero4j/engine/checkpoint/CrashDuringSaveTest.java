package org.zero4j.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.zero4j.engine.Engine;
import org.zero4j.zero.comm.LocalRanks;

/**
 * A save that dies at any phase leaves {@code latest} naming the previous complete checkpoint,
 * which a fresh job loads; the next save of the interrupted tag then succeeds.
 */
class CrashDuringSaveTest {

  @TempDir Path tmp;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  private static final class Crash extends RuntimeException {
    Crash(SavePhase phase, int rank) {
      super("injected crash of rank " + rank + " at " + phase);
    }
  }

  @ParameterizedTest(name = "every rank dies at {0}")
  @EnumSource(SavePhase.class)
  void everyRankDies(SavePhase phase) {
    Path dir = tmp.resolve("ckpt");
    String json = CheckpointRuns.config(2, "fp32");
    List<List<Tensor>> atStep2 =
        LocalRanks.run(
            2,
            Duration.ofSeconds(60),
            comm -> {
              OddMlp a = OddMlp.create(CheckpointRuns.SEED);
              try (Engine e = CheckpointRuns.start(a, json, comm)) {
                CheckpointRuns.train(e, a, 0, 2);
                e.saveCheckpoint(dir, null, Map.of());
                List<Tensor> saved = a.snapshot();
                CheckpointRuns.train(e, a, 2, 3);
                assertThrows(
                    Crash.class,
                    () ->
                        e.saveCheckpoint(
                            dir,
                            null,
                            Map.of(),
                            null,
                            (p, r) -> {
                              if (p == phase) {
                                throw new Crash(p, r);
                              }
                            }));
                return saved;
              }
            });
    assertEquals("global_step2", CheckpointDir.latest(dir));
    assertEquals(phase == SavePhase.BEFORE_LATEST, Files.isDirectory(dir.resolve("global_step3")));
    resumeFromPrevious(dir, json, atStep2.get(0));
  }

  @ParameterizedTest(name = "rank 1 dies at {0}, rank 0 goes on")
  @EnumSource(SavePhase.class)
  void oneRankDiesWhileTheOtherGoesOn(SavePhase phase) {
    Path dir = tmp.resolve("ckpt");
    String json =
        CheckpointRuns.config(1, "fp32")
            .replace("\"collective_timeout_seconds\": 20", "\"collective_timeout_seconds\": 3");
    List<List<Tensor>> atStep2 =
        LocalRanks.run(
            2,
            Duration.ofSeconds(60),
            comm -> {
              OddMlp a = OddMlp.create(CheckpointRuns.SEED);
              Engine e = CheckpointRuns.start(a, json, comm);
              CheckpointRuns.train(e, a, 0, 2);
              e.saveCheckpoint(dir, null, Map.of());
              List<Tensor> saved = a.snapshot();
              CheckpointRuns.train(e, a, 2, 3);
              // rank 1 dies; rank 0 goes on until it waits for rank 1 and fails
              assertThrows(
                  RuntimeException.class,
                  () ->
                      e.saveCheckpoint(
                          dir,
                          null,
                          Map.of(),
                          null,
                          (p, r) -> {
                            if (p == phase && r == 1) {
                              throw new Crash(p, r);
                            }
                          }));
              return saved;
            });
    assertEquals("global_step2", CheckpointDir.latest(dir));
    assertEquals(phase == SavePhase.BEFORE_LATEST, Files.isDirectory(dir.resolve("global_step3")));
    resumeFromPrevious(dir, json, atStep2.get(0));
  }

  private static void resumeFromPrevious(Path dir, String json, List<Tensor> atStep2) {
    LocalRanks.run(
        2,
        Duration.ofSeconds(60),
        comm -> {
          OddMlp b = OddMlp.create(CheckpointRuns.SEED + 1);
          try (Engine e = CheckpointRuns.start(b, json, comm)) {
            LoadedCheckpoint l = e.loadCheckpoint(dir, null, true, true, false);
            assertEquals("global_step2", l.tag());
            CheckpointRuns.assertBitEqual(atStep2, b.snapshot(), "previous checkpoint's params");
            CheckpointRuns.train(e, b, 2, 3);
            e.saveCheckpoint(dir, null, Map.of());
          }
          return null;
        });
    assertEquals("global_step3", CheckpointDir.latest(dir));
    assertTrue(Files.exists(dir.resolve("global_step3").resolve(CheckpointManifest.FILE_NAME)));
    assertFalse(Files.exists(CheckpointDir.staging(dir, "global_step3")), "staging cleaned up");
  }
}
