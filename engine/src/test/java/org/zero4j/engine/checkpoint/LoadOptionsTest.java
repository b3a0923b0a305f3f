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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zero4j.engine.Engine;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.comm.LocalRanks;

/**
 * The load flags (module only, without optimizer or scheduler state), tag validation across ranks,
 * and a save outside an accumulation boundary.
 */
class LoadOptionsTest {

  @TempDir Path tmp;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  @Test
  void moduleOnlyEqualsAFreshEngineOnTheSavedWeights() {
    Path dir = tmp.resolve("ckpt");
    String json = CheckpointRuns.config(2, "bf16");
    LocalRanks.run(
        2,
        Duration.ofSeconds(60),
        comm -> {
          OddMlp a = OddMlp.create(CheckpointRuns.SEED);
          List<Tensor> saved;
          try (Engine e = CheckpointRuns.start(a, json, comm)) {
            CheckpointRuns.train(e, a, 0, 3);
            e.saveCheckpoint(dir, null, Map.of());
            saved = a.snapshot();
          }
          // reference: a fresh engine over a model that already holds the saved weights
          OddMlp ref = OddMlp.create(CheckpointRuns.SEED + 2);
          copyInto(ref, saved);
          List<Double> refLosses;
          try (Engine e = CheckpointRuns.start(ref, json, comm)) {
            refLosses = CheckpointRuns.train(e, ref, 0, 2);
          }
          OddMlp b = OddMlp.create(CheckpointRuns.SEED + 1);
          try (Engine e = CheckpointRuns.start(b, json, comm)) {
            e.loadCheckpoint(dir, null, true, true, true);
            CheckpointRuns.assertBitEqual(saved, b.snapshot(), "weights after a module-only load");
            assertEquals(0, e.globalSteps(), "module-only leaves the counters");
            assertEquals(refLosses, CheckpointRuns.train(e, b, 0, 2));
            CheckpointRuns.assertBitEqual(ref.snapshot(), b.snapshot(), "after 2 steps");
          }
          return null;
        });
  }

  @Test
  void withoutOptimizerOrSchedulerState() {
    Path dir = tmp.resolve("ckpt");
    String json = CheckpointRuns.config(1, "fp32");
    LocalRanks.run(
        1,
        Duration.ofSeconds(60),
        comm -> {
          OddMlp a = OddMlp.create(CheckpointRuns.SEED);
          double lrAt0;
          double lrAt3;
          List<Tensor> saved;
          try (Engine e = CheckpointRuns.start(a, json, comm)) {
            lrAt0 = e.getLr();
            CheckpointRuns.train(e, a, 0, 3);
            e.saveCheckpoint(dir, null, Map.of());
            lrAt3 = e.getLr();
            saved = a.snapshot();
          }
          assertTrue(lrAt0 != lrAt3, "test premise: the schedule moved");
          OddMlp b = OddMlp.create(CheckpointRuns.SEED + 1);
          try (Engine e = CheckpointRuns.start(b, json, comm)) {
            e.loadCheckpoint(dir, null, false, true, false);
            CheckpointRuns.assertBitEqual(saved, b.snapshot(), "weights");
            assertEquals(3, e.globalSteps());
            assertEquals(lrAt3, e.getLr(), 0.0, "schedule continues");
            for (Tensor m : e.zeroOptimizer().moments()) {
              assertEquals(0.0, m.abs().max().item_double(), "moments start from zero");
            }
          }
          OddMlp c = OddMlp.create(CheckpointRuns.SEED + 1);
          try (Engine e = CheckpointRuns.start(c, json, comm)) {
            e.loadCheckpoint(dir, null, true, false, false);
            assertEquals(lrAt0, e.getLr(), 0.0, "schedule restarts");
            assertTrue(e.zeroOptimizer().moments().get(1).abs().max().item_double() > 0);
          }
          return null;
        });
  }

  @Test
  void loadFromFp32WeightsFalseTakesMastersFromTheModel() {
    Path dir = tmp.resolve("ckpt");
    String json = CheckpointRuns.config(1, "bf16");
    String from16 =
        json.replace(
            "\"overlap_comm\": true", "\"overlap_comm\": true, \"load_from_fp32_weights\": false");
    assertTrue(!from16.equals(json), "test premise: the key is set");
    LocalRanks.run(
        2,
        Duration.ofSeconds(60),
        comm -> {
          OddMlp a = OddMlp.create(CheckpointRuns.SEED);
          Tensor master;
          Tensor expAvg;
          try (Engine e = CheckpointRuns.start(a, json, comm)) {
            CheckpointRuns.train(e, a, 0, 3);
            e.saveCheckpoint(dir, null, Map.of());
            master = e.zeroOptimizer().masterShard().clone();
            expAvg = e.zeroOptimizer().moments().get(0).clone();
          }
          for (String config : List.of(json, from16)) {
            OddMlp b = OddMlp.create(CheckpointRuns.SEED + 1);
            try (Engine e = CheckpointRuns.start(b, config, comm)) {
              e.loadCheckpoint(dir, null, true, true, false);
              Tensor loaded = e.zeroOptimizer().masterShard();
              Tensor rounded = master.to(torch.ScalarType.BFloat16).to(torch.ScalarType.Float);
              assertTrue(torch.equal(expAvg, e.zeroOptimizer().moments().get(0)), "moments");
              if (config.equals(json)) {
                assertTrue(torch.equal(master, loaded), "fp32 masters from the fragments");
              } else {
                assertTrue(torch.equal(rounded, loaded), "masters from the bf16 weights");
                assertFalse(torch.equal(master, loaded), "test premise: rounding shows");
              }
            }
          }
          return null;
        });
  }

  @Test
  void tagValidation() {
    Path dir = tmp.resolve("ckpt");
    String fail =
        CheckpointRuns.config(1, "fp32")
            .replace("\"zero4j\"", "\"checkpoint\": {\"tag_validation\": \"Fail\"},\n\"zero4j\"");
    String warn = fail.replace("\"Fail\"", "\"Warn\"");
    LocalRanks.run(
        2,
        Duration.ofSeconds(60),
        comm -> {
          OddMlp a = OddMlp.create(CheckpointRuns.SEED);
          try (Engine e = CheckpointRuns.start(a, fail, comm)) {
            CheckpointRuns.train(e, a, 0, 1);
            IllegalArgumentException ex =
                assertThrows(
                    IllegalArgumentException.class,
                    () -> e.saveCheckpoint(dir, "tag" + comm.rank(), Map.of()));
            assertTrue(ex.getMessage().contains("different from rank 0's"), ex.getMessage());
            e.saveCheckpoint(dir, "same", Map.of());
          }
          OddMlp b = OddMlp.create(CheckpointRuns.SEED);
          try (Engine e = CheckpointRuns.start(b, warn, comm)) {
            CheckpointRuns.train(e, b, 0, 2);
            // a micro-step inside the accumulation window: refused
            e.backward(b.loss(OddMlp.batch(1, 1, 4)[0], OddMlp.batch(1, 1, 4)[1]));
            e.step();
            assertThrows(IllegalStateException.class, () -> e.saveCheckpoint(dir, "x", Map.of()));
          }
          OddMlp c = OddMlp.create(CheckpointRuns.SEED);
          try (Engine e = CheckpointRuns.start(c, warn, comm)) {
            CheckpointRuns.train(e, c, 0, 1);
            e.saveCheckpoint(dir, "warned" + comm.rank(), Map.of());
          }
          return null;
        });
    assertEquals("warned0", CheckpointDir.latest(dir));
    assertTrue(Files.isDirectory(dir.resolve("same")));
    assertFalse(Files.exists(dir.resolve("warned1")), "Warn saves under rank 0's tag");
  }

  @SuppressWarnings("try") // the guard is used for its scope
  private static void copyInto(OddMlp model, List<Tensor> values) {
    List<NamedParameter> named = model.named();
    for (int i = 0; i < named.size(); i++) {
      try (var g = new org.bytedeco.pytorch.NoGradGuard()) {
        named.get(i).tensor().copy_(values.get(i));
      }
    }
  }
}
