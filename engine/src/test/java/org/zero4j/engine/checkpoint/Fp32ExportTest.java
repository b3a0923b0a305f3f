package org.zero4j.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zero4j.engine.Engine;
import org.zero4j.engine.cli.Zero4jCli;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.comm.LocalRanks;

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
  @CsvSource({"2,2", "2,4", "1,2", "0,2"})
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
                    return snapshot(a.named());
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

  private static Live snapshot(List<NamedParameter> params) {
    List<String> names = new java.util.ArrayList<>();
    List<long[]> shapes = new java.util.ArrayList<>();
    List<float[]> values = new java.util.ArrayList<>();
    for (NamedParameter p : params) {
      names.add(p.name());
      shapes.add(p.tensor().sizes().vec().get());
      try (Tensor flat = p.tensor().detach().contiguous().view(-1)) {
        float[] v = new float[(int) flat.numel()];
        new org.bytedeco.javacpp.FloatPointer(flat.data_ptr()).get(v);
        values.add(v);
      }
    }
    return new Live(names, shapes, values);
  }
}
