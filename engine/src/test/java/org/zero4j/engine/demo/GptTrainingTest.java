package org.zero4j.engine.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Single-process training of the demo model on the shipped corpus with libtorch's AdamW. */
@SuppressWarnings("try") // PointerScope is opened for its side effect: it frees the scratch tensors
class GptTrainingTest {
  private static final int BLOCK = 32;
  private static TextBatches batches;
  private static GptConfig config;

  @BeforeAll
  static void data() {
    // Note [one thread]: on the shared 2-core machine two OpenMP threads spin against other jobs
    // and ran 3x slower than one.
    torch.set_num_threads(1);
    String text = DemoCorpus.text();
    CharTokenizer tokenizer = CharTokenizer.fromText(text);
    batches = new TextBatches(tokenizer.encode(text), BLOCK);
    config = new GptConfig(tokenizer.vocabSize(), BLOCK, 2, 2, 32, 42);
  }

  @Test
  void lossFallsClearlyWithinThirtySteps() {
    float[] losses = train(30);
    double first = losses[0];
    double last = (losses[25] + losses[26] + losses[27] + losses[28] + losses[29]) / 5;
    assertTrue(Math.abs(first - Math.log(config.vocabSize())) < 0.1, "initial loss " + first);
    assertTrue(last < first - 1.0, "loss went from " + first + " to " + last);
  }

  @Test
  void trainingIsBitwiseReproducible() {
    assertArrayEquals(train(4), train(4));
  }

  private static float[] train(int steps) {
    GptModel model = new GptModel(config);
    AdamWOptions options = new AdamWOptions(1e-2);
    AdamW optimizer = new AdamW(model.parameters(), options);
    SplittableRandom random = new SplittableRandom(7);
    float[] losses = new float[steps];
    for (int step = 0; step < steps; step++) {
      int[] indices = random.ints(8, 0, batches.numSamples()).toArray();
      try (PointerScope scope = new PointerScope();
          TextBatches.Batch batch = batches.batch(indices)) {
        optimizer.zero_grad();
        Tensor loss = model.loss(batch.x(), batch.y());
        loss.backward();
        optimizer.step();
        losses[step] = loss.item_float();
      }
    }
    optimizer.close();
    options.close();
    model.close();
    return losses;
  }
}
