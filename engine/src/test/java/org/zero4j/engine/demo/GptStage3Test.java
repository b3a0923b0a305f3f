package org.zero4j.engine.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.zero4j.engine.Engine;
import org.zero4j.engine.Zero4j;
import org.zero4j.zero.comm.LocalRanks;

/**
 * The demo GPT at ZeRO stage 3 on 2 ranks, its blocks as sharding units: the loss falls, and it
 * follows stage 2's loss curve (same math; tolerance 1e-4 relative, for sums over differently sized
 * buffers that round differently, compounded over the steps).
 */
@SuppressWarnings("try") // PointerScope is opened for its side effect: it frees the scratch tensors
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

  private static synchronized GptModel build() {
    return new GptModel(config);
  }

  private static List<Double> train(String zero, int gas) {
    String json =
        """
        {"train_micro_batch_size_per_gpu": %d, "gradient_accumulation_steps": %d,
         "gradient_clipping": 1.0,
         "optimizer": {"type": "AdamW", "params": {"lr": 1e-2, "weight_decay": 0.01}},
         "zero_optimization": {%s, "reduce_bucket_size": 5000, "overlap_comm": true}}
        """
            .formatted(4 / gas, gas, zero);
    return LocalRanks.run(
            2,
            Duration.ofSeconds(120),
            comm -> {
              GptModel model = build();
              List<Double> losses = new ArrayList<>();
              try (Engine engine = Zero4j.setup(model).config(json).collectives(comm).start()) {
                SplittableRandom random = new SplittableRandom(7);
                for (int step = 0; step < STEPS; step++) {
                  int[] all = random.ints(8, 0, batches.numSamples()).toArray();
                  int[] mine = Arrays.copyOfRange(all, 4 * comm.rank(), 4 * comm.rank() + 4);
                  double sum = 0;
                  for (int m = 0; m < gas; m++) {
                    int per = 4 / gas;
                    try (PointerScope scope = new PointerScope();
                        TextBatches.Batch b =
                            batches.batch(Arrays.copyOfRange(mine, m * per, m * per + per))) {
                      Tensor loss = model.loss(b.x(), b.y());
                      engine.backward(loss);
                      engine.step();
                      sum += loss.item_double();
                    }
                  }
                  losses.add(engine.meanOverRanks(sum / gas));
                }
              }
              return losses;
            })
        .get(0);
  }
}
