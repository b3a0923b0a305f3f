package org.zero4j.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zero4j.zero.TinyMlp;
import org.zero4j.zero.comm.LocalRanks;

/** csv_monitor output and the mean-over-ranks logging reduction. */
class MonitoringTest {

  @TempDir Path dir;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  @Test
  void csvMonitorWritesOneFilePerEventOnRankZero() throws Exception {
    String monitor =
        "\"csv_monitor\": {\"enabled\": true, \"output_path\": \"%s\", \"job_name\": \"run1\"}"
            .formatted(dir.toString().replace("\\", "/"));
    RankRuns.train(2, RankRuns.config(1, 2, monitor), 3, null);
    Path job = dir.resolve("run1");
    List<String> loss = Files.readAllLines(job.resolve("Train_Samples_train_loss.csv"));
    List<String> lr = Files.readAllLines(job.resolve("Train_Samples_lr.csv"));
    assertEquals("step,Train/Samples/train_loss", loss.get(0));
    assertEquals(4, loss.size(), "header + one row per optimizer step: " + loss);
    assertEquals(4, lr.size());
    // x axis: samples seen = step * train_batch_size (24)
    assertTrue(loss.get(3).startsWith("72,"), loss.get(3));
    double value = Double.parseDouble(loss.get(1).split(",")[1]);
    assertTrue(value > 0 && Double.isFinite(value), loss.get(1));
  }

  @Test
  void meanOverRanksAveragesEveryRanksValue() {
    String json = RankRuns.config(0, 1, "");
    List<Double> means =
        LocalRanks.run(
            3,
            Duration.ofSeconds(60),
            comm -> {
              TinyMlp model = TinyMlp.create(1);
              try (Engine e =
                  Zero4j.setup(model.named())
                      .config(json.replace("\"train_batch_size\": 24", "\"train_batch_size\": 27"))
                      .collectives(comm)
                      .start()) {
                return e.meanOverRanks(1.5 * (comm.rank() + 1));
              }
            });
    for (double m : means) {
      assertEquals((1.5 + 3.0 + 4.5) / 3, m, 1e-12);
    }
  }
}
