package org.zero4j.engine;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zero4j.zero.MemoryBreakdown;
import org.zero4j.zero.TinyMlp;
import org.zero4j.zero.comm.LocalRanks;

/** memoryBreakdown() against ZeRO's formulas for bf16 mixed precision with Ψ parameters. */
class MemoryBreakdownTest {

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  @ParameterizedTest(name = "stage {0}, world {1}")
  @CsvSource({"0,2", "1,2", "2,2", "0,4", "1,4", "2,4"})
  void matchesZeroFormula(int stage, int world) {
    String json =
        """
        {"train_micro_batch_size_per_gpu": 1, "bf16": {"enabled": true},
         "optimizer": {"type": "AdamW", "params": {"lr": 0.001}},
         "zero_optimization": {"stage": %d, "reduce_bucket_size": 5e8}}
        """
            .formatted(stage);
    List<MemoryBreakdown> got =
        LocalRanks.run(
            world,
            Duration.ofSeconds(60),
            comm -> {
              TinyMlp model = TinyMlp.create(1);
              try (Engine e = Zero4j.setup(model.named()).config(json).collectives(comm).start()) {
                return e.memoryBreakdown();
              }
            });
    double psi =
        TinyMlp.IN * TinyMlp.HIDDEN + TinyMlp.HIDDEN + TinyMlp.HIDDEN * TinyMlp.OUT + TinyMlp.OUT;
    double expected =
        switch (stage) {
          case 0 -> 16 * psi;
          case 1 -> 4 * psi + 12 * psi / world;
          default -> 2 * psi + 14 * psi / world;
        };
    for (MemoryBreakdown m : got) {
      double ratio = m.total() / expected;
      assertTrue(Math.abs(ratio - 1) <= 0.05, "stage " + stage + ": " + m + " vs " + expected);
    }
  }
}
