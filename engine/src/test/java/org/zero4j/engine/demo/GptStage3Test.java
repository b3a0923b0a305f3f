package org.zero4j.engine.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The demo GPT at ZeRO stage 3 on 2 ranks, its blocks as sharding units: the loss falls, and it
 * follows stage 2's loss curve (same math; tolerance 1e-4 relative, for sums over differently sized
 * buffers that round differently, compounded over the steps).
 */
class GptStage3Test {
  private static final int BLOCK = 32;
  private static final int STEPS = 25;
  private static TextBatches batches;
  private static GptConfig config;

  @BeforeAll
  static void data() {
    torch.set_num_threads(1);
    String text = DemoCorpus.text();
    CharTokenizer tokenizer = CharTokenizer.fromText(text);
    batches = new TextBatches(tokenizer.encode(text), BLOCK);
    config = new GptConfig(tokenizer.vocabSize(), BLOCK, 2, 2, 32, 42);
  }

  @ParameterizedTest(name = "gradient accumulation {0}")
  @ValueSource(ints = {1, 2})
  void stage3TrainsLikeStage2WithFallingLoss(int gas) {
    String s3 =
        "\"stage\": 3, \"stage3_param_persistence_threshold\": 0,"
            + " \"stage3_prefetch_bucket_size\": 20000, \"stage3_max_live_parameters\": 30000,"
            + " \"stage3_max_reuse_distance\": 0";
    List<Double> three = train(s3, gas);
    List<Double> two = train("\"stage\": 2", gas);
    double first = three.get(0);
    double last = (three.get(STEPS - 1) + three.get(STEPS - 2) + three.get(STEPS - 3)) / 3;
    assertTrue(last < first - 0.5, "stage 3 loss went from " + first + " to " + last);
    for (int i = 0; i < STEPS; i++) {
      assertEquals(two.get(i), three.get(i), 1e-4 * two.get(i), "loss at step " + i);
    }
  }

  private static List<Double> train(String zero, int gas) {
    return GptRanks.train(config, batches, zero, gas, STEPS);
  }
}
