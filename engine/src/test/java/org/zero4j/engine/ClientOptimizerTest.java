package org.zero4j.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.zero.TinyMlp;
import org.zero4j.zero.comm.LocalRanks;

/** DeepSpeed's client optimizer: used when the config has none; both or neither is an error. */
class ClientOptimizerTest {

  private static final AdamHyperparams HP =
      new AdamHyperparams(0.02, 0.9, 0.999, 1e-8, 0.0, true, true);
  private static final String NO_OPTIMIZER =
      "{\"train_micro_batch_size_per_gpu\": 2, \"zero_optimization\": {\"stage\": 1}}";

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  private static double lrWith(String json, AdamHyperparams client) {
    return LocalRanks.run(
            1,
            Duration.ofSeconds(30),
            comm -> {
              Zero4j.Setup s =
                  Zero4j.setup(TinyMlp.create(1).named()).config(json).collectives(comm);
              if (client != null) {
                s = s.optimizer(client);
              }
              try (Engine e = s.start()) {
                return e.getLr();
              }
            })
        .get(0);
  }

  @Test
  void clientOptimizerIsUsedWhenTheConfigHasNone() {
    assertEquals(0.02, lrWith(NO_OPTIMIZER, HP));
  }

  @Test
  void bothOrNeitherIsAnError() {
    String withOptimizer =
        NO_OPTIMIZER.replace(
            "\"zero_optimization\"",
            "\"optimizer\": {\"type\": \"Adam\", \"params\": {\"lr\": 0.1}}, \"zero_optimization\"");
    IllegalArgumentException both =
        assertThrows(IllegalArgumentException.class, () -> lrWith(withOptimizer, HP));
    assertTrue(both.getMessage().contains("keep one of them"), both.getMessage());
    IllegalArgumentException none =
        assertThrows(IllegalArgumentException.class, () -> lrWith(NO_OPTIMIZER, null));
    assertTrue(none.getMessage().contains("no \"optimizer\" block"), none.getMessage());
    assertEquals(0.1, lrWith(withOptimizer, null));
  }
}
