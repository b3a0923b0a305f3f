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
 * Trains the demo GPT on 2 ranks (threads of this JVM) with a given {@code zero_optimization} body,
 * global batch 8, AdamW and gradient clipping 1.0; returns the loss of each step averaged over the
 * ranks. Each micro-step runs in its own {@link PointerScope}, as a user's loop does.
 */
final class GptRanks {

  private GptRanks() {}

  @SuppressWarnings("try") // the PointerScope is opened for its close()
  static List<Double> train(
      GptConfig config, TextBatches batches, String zero, int gas, int steps) {
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
              GptModel model = build(config);
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
  private static synchronized GptModel build(GptConfig config) {
    return new GptModel(config);
  }
}
