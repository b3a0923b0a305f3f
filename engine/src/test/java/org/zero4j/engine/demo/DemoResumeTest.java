package org.zero4j.engine.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zero4j.zero.comm.LocalRanks;

/**
 * The demo's {@code --save-dir} / {@code --resume}: 4 steps, save, resume for 2 more gives the same
 * step losses, bit for bit, as 6 uninterrupted steps. This needs the sampler to skip the batches
 * already consumed, so it also checks the saved data position.
 */
class DemoResumeTest {

  @TempDir Path tmp;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  @Test
  void resumedDemoContinuesBitExactly() throws IOException {
    // a fixed schedule length, so the uninterrupted and the resumed run share it
    String shipped;
    try (InputStream in = DemoTraining.class.getResourceAsStream("ds_config.json")) {
      shipped = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    Path config = tmp.resolve("ds_config.json");
    Files.writeString(
        config,
        shipped
            .replace("\"total_num_steps\": \"auto\"", "\"total_num_steps\": 10")
            .replace("\"warmup_num_steps\": 20", "\"warmup_num_steps\": 3"));
    Path dir = tmp.resolve("ckpt");
    List<Double> whole = run(new DemoTraining.Options(config.toString(), 6, null, null));
    List<Double> first = run(new DemoTraining.Options(config.toString(), 4, dir, null));
    DemoTraining.Outcome resumed =
        LocalRanks.run(
                2,
                Duration.ofSeconds(120),
                comm ->
                    DemoTraining.run(
                        new DemoTraining.Options(config.toString(), 2, null, dir), comm))
            .get(0);
    assertEquals(5, resumed.firstStep());
    assertEquals(whole.subList(0, 4), first);
    assertEquals(whole.subList(4, 6), resumed.stepLosses());
  }

  private static List<Double> run(DemoTraining.Options o) {
    return LocalRanks.run(2, Duration.ofSeconds(120), comm -> DemoTraining.run(o, comm))
        .get(0)
        .stepLosses();
  }
}
