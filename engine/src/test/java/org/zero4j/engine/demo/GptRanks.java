package org.zero4j.engine.demo;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.engine.Engine;
import org.zero4j.engine.Zero4j;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Trains a small demo GPT (2 layers, 2 heads, width 32, block 32, on the demo corpus) on 2 ranks
 * (threads of this JVM) with a given {@code zero_optimization} body, global batch 8, AdamW and
 * gradient clipping 1.0; returns the loss of each step averaged over the ranks. Each micro-step
 * runs in its own {@link PointerScope}, as a user's loop does.
 */
final class GptRanks {

  /** Stage 3 with every unit released after use: gathered in forward and again in backward. */
  static final String STAGE3 =
      "\"stage\": 3, \"stage3_param_persistence_threshold\": 0,"
          + " \"stage3_prefetch_bucket_size\": 20000, \"stage3_max_live_parameters\": 30000,"
          + " \"stage3_max_reuse_distance\": 0";

  private static final int BLOCK = 32;
  private static TextBatches batches;
  private static GptConfig config;

  private GptRanks() {}

  private static synchronized void load() {
    if (batches == null) {
      String text = DemoCorpus.text();
      CharTokenizer tokenizer = CharTokenizer.fromText(text);
      batches = new TextBatches(tokenizer.encode(text), BLOCK);
      config = new GptConfig(tokenizer.vocabSize(), BLOCK, 2, 2, 32, 42);
    }
  }

  @SuppressWarnings("try") // the PointerScope is opened for its close()
  static List<Double> train(String zero, int gas, int steps) {
    load();
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
                for (int step = 0; step < steps; step++) {
                  int[] all = random.ints(8, 0, batches.numSamples()).toArray();
                  int[] mine = Arrays.copyOfRange(all, 4 * comm.rank(), 4 * comm.rank() + 4);
                  double sum = 0;
                  int per = 4 / gas;
                  for (int m = 0; m < gas; m++) {
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

  // libtorch's global RNG is shared by the rank threads: seeded construction one at a time.
  private static synchronized GptModel build() {
    return new GptModel(config);
  }
}
