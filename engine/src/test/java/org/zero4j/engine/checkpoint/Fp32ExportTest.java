package org.zero4j.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
import org.zero4j.engine.cli.Zero4jCli;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.comm.LocalRanks;
import org.zero4j.zero.stage3.Stage3Optimizer;

/**
 * {@code zero4j to-fp32} writes the consolidated fp32 weights: with the model's names and shapes,
 * bit-identical to the live parameters of the run that saved, read back through the reader.
 */
class Fp32ExportTest {

  @TempDir Path tmp;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  private record Live(List<String> names, List<long[]> shapes, List<float[]> values) {}

  @ParameterizedTest(name = "stage {0}, world {1}")
  @CsvSource({"2,2", "2,4", "1,2", "0,2", "3,2", "3,4", "3,1"})
  void exportEqualsLiveParameters(int stage, int world) {
    Path dir = tmp.resolve("ckpt");
    String json = CheckpointRuns.config(stage, "fp32");
    Live live =
        LocalRanks.run(
                world,
                Duration.ofSeconds(60),
                comm -> {
                  OddMlp a = OddMlp.create(CheckpointRuns.SEED);
                  try (Engine e = CheckpointRuns.start(a, json, comm)) {
                    CheckpointRuns.train(e, a, 0, 3);
                    e.saveCheckpoint(dir, "final", Map.of());
                    return snapshot(a.named(), CheckpointRuns.params(e, a));
                  }
                })
            .get(0);
    Path out = tmp.resolve("out.safetensors");
    ByteArrayOutputStream text = new ByteArrayOutputStream();
    int code =
        new Zero4jCli(new PrintStream(text), System.err)
            .run(List.of("to-fp32", dir.toString(), out.toString()));
    assertEquals(0, code);
    assertTrue(text.toString().contains("wrote 4 parameters"), text.toString());
    try (SafetensorsReader r = SafetensorsReader.open(out)) {
      assertEquals(live.names(), List.copyOf(r.tensors().keySet()));
      assertEquals("final", r.metadata().get("zero4j_tag"));
      for (int i = 0; i < live.names().size(); i++) {
        TensorEntry t = r.tensor(live.names().get(i));
        assertEquals(TensorDtype.F32, t.dtype());
        assertArrayEquals(live.shapes().get(i), t.shape());
        ByteBuffer b = ByteBuffer.allocate((int) t.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        r.read(t, 0, b);
        float[] got = new float[(int) t.numel()];
        b.flip().asFloatBuffer().get(got);
        assertArrayEquals(live.values().get(i), got, 0.0f, live.names().get(i));
      }
    }
  }

  @Test
  void sixteenBitModelAtStage3IsGatheredOneUnitAtATime() {
    String json =
        CheckpointRuns.config(3, "bf16")
            .replace(
                "\"stage3_param_persistence_threshold\": 300",
                "\"stage3_param_persistence_threshold\": 0,"
                    + " \"stage3_gather_16bit_weights_on_model_save\": true");
    assertTrue(json.contains("gather_16bit"), "test premise: the setting is on");
    Path dir = tmp.resolve("model");
    List<Object> results =
        LocalRanks.run(
            2,
            Duration.ofSeconds(60),
            comm -> {
              OddMlp a = OddMlp.create(CheckpointRuns.SEED);
              try (Engine e = CheckpointRuns.start(a, json, comm)) {
                CheckpointRuns.train(e, a, 0, 2);
                Stage3Optimizer s3 = e.stage3Optimizer();
                List<Tensor> live = s3.fullParameters();
                assertEquals(0, s3.liveBytes(), "test premise: no unit gathered between steps");
                s3.resetPeakLive();
                Path file = e.save16bitModel(dir, "model.safetensors");
                long peak = s3.peakLiveBytes();
                long largestUnit = 2 * Math.max(s3.unitNumel(0), s3.unitNumel(1));
                assertEquals(largestUnit, peak, "one unit gathered at a time");
                return List.of(file, snapshot(a.named(), live));
              }
            });
    Path file = (Path) ((List<?>) results.get(0)).get(0);
    Live live = (Live) ((List<?>) results.get(0)).get(1);
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      assertEquals(live.names().size(), r.tensors().size());
      for (int i = 0; i < live.names().size(); i++) {
        TensorEntry t = r.tensor(live.names().get(i));
        assertEquals(TensorDtype.BF16, t.dtype());
        assertArrayEquals(live.shapes().get(i), t.shape());
        ByteBuffer b = ByteBuffer.allocate((int) t.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        r.read(t, 0, b);
        short[] got = new short[(int) t.numel()];
        b.flip().asShortBuffer().get(got);
        float[] asFloat = new float[got.length];
        for (int k = 0; k < got.length; k++) {
          asFloat[k] = Float.intBitsToFloat((got[k] & 0xffff) << 16);
        }
        assertArrayEquals(live.values().get(i), asFloat, 0.0f, live.names().get(i));
      }
    }
    String without = json.replace("\"stage3_gather_16bit_weights_on_model_save\": true", "");
    LocalRanks.run(
        1,
        Duration.ofSeconds(60),
        comm -> {
          OddMlp a = OddMlp.create(CheckpointRuns.SEED);
          try (Engine e = CheckpointRuns.start(a, without.replace(", }", "}"), comm)) {
            IllegalStateException ex =
                assertThrows(IllegalStateException.class, () -> e.save16bitModel(dir, "x"));
            assertTrue(
                ex.getMessage().contains("stage3_gather_16bit_weights_on_model_save"),
                ex.getMessage());
          }
          return null;
        });
  }

  private static Live snapshot(List<NamedParameter> params, List<Tensor> full) {
    List<String> names = new java.util.ArrayList<>();
    List<long[]> shapes = new java.util.ArrayList<>();
    List<float[]> values = new java.util.ArrayList<>();
    for (int i = 0; i < params.size(); i++) {
      names.add(params.get(i).name());
      shapes.add(full.get(i).sizes().vec().get());
      try (Tensor flat = full.get(i).detach().to(torch.ScalarType.Float).contiguous().view(-1)) {
        float[] v = new float[(int) flat.numel()];
        new org.bytedeco.javacpp.FloatPointer(flat.data_ptr()).get(v);
        values.add(v);
      }
    }
    return new Live(names, shapes, values);
  }
}
