package org.zero4j.engine.demo;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.engine.Engine;
import org.zero4j.engine.Zero4j;
import org.zero4j.engine.config.AutoValues;
import org.zero4j.engine.data.DistributedSampler;
import org.zero4j.kernels.adam.AdamHyperparams;

/**
 * One rank of the demo: a small GPT trained on the shipped public-domain text from a DeepSpeed JSON
 * config, with the user's own loop ({@code loss = model.loss(...); engine.backward(loss);
 * engine.step();}). Started by {@code zero4j demo} through the launcher; rank 0 prints
 * DeepSpeed-style step lines.
 *
 * <p>Arguments: {@code [--config FILE] [--steps S]}. Without {@code --config} the shipped ZeRO-2
 * config is used. "auto" values resolve from the micro batch of 8 and the step count.
 */
public final class DemoTraining {

  private static final int BLOCK = 64;
  private static final long SEED = 1337;

  /** The optimizer the demo passes when a config has no {@code optimizer} block. */
  public static final AdamHyperparams DEFAULT_OPTIMIZER =
      new AdamHyperparams(3e-3, 0.9, 0.99, 1e-8, 0.01, true, true);

  private DemoTraining() {}

  /** What the demo tells the config's "auto" values: the step count and a 20-step warm-up. */
  public static AutoValues autos(int steps) {
    return AutoValues.NONE.withTotalSteps((long) steps).withWarmupSteps(20L);
  }

  /** Whether the config file (null: the shipped config) has a top-level optimizer block. */
  public static boolean hasOptimizerBlock(String configPath) {
    if (configPath == null) {
      return true;
    }
    try {
      return new ObjectMapper().readTree(Path.of(configPath).toFile()).has("optimizer");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + configPath, e);
    }
  }

  public static void main(String[] args) {
    String configPath = arg(args, "--config", null);
    int steps = Integer.parseInt(arg(args, "--steps", "200"));
    String text = DemoCorpus.text();
    CharTokenizer tokenizer = CharTokenizer.fromText(text);
    TextBatches data = new TextBatches(tokenizer.encode(text), BLOCK);
    GptModel model = new GptModel(new GptConfig(tokenizer.vocabSize(), BLOCK, 2, 4, 64, SEED));

    Zero4j.Setup setup = Zero4j.setup(model).autos(autos(steps));
    setup = configPath == null ? setup.config(shippedConfig()) : setup.config(Path.of(configPath));
    if (!hasOptimizerBlock(configPath)) {
      setup = setup.optimizer(DEFAULT_OPTIMIZER);
    }
    try (Engine engine = setup.start()) {
      train(engine, model, data, steps);
    }
  }

  @SuppressWarnings("try") // the PointerScope is used for its close()
  private static void train(Engine engine, GptModel model, TextBatches data, int steps) {
    int micro = engine.config().microBatchPerGpu();
    DistributedSampler sampler =
        new DistributedSampler(
            data.numSamples(), engine.worldSize(), engine.rank(), true, SEED, true);
    if (engine.rank() == 0) {
      System.out.printf(
          Locale.ROOT,
          "demo: GPT with %d parameters, %d ranks, ZeRO stage %d, %s, train_batch_size %d"
              + " (micro %d x accumulation %d x ranks %d)%n",
          model.parameterCount(),
          engine.worldSize(),
          engine.config().zero().stage(),
          engine.config().precision(),
          engine.config().trainBatchSize(),
          micro,
          engine.config().gradientAccumulationSteps(),
          engine.worldSize());
    }
    double first = Double.NaN;
    double last = Double.NaN;
    double lossSum = 0;
    int lossCount = 0;
    long start = System.nanoTime();
    long epoch = 0;
    Iterator<int[]> batches = sampler.batches(micro);
    while (engine.globalSteps() < steps) {
      if (!batches.hasNext()) {
        sampler.setEpoch(++epoch);
        batches = sampler.batches(micro);
      }
      // Note [scoped step]: forward's temporaries hold native activations; the scope frees them
      // at the end of the micro-step instead of whenever the GC runs.
      try (PointerScope scope = new PointerScope();
          TextBatches.Batch b = data.batch(batches.next());
          Tensor loss = model.loss(b.x(), b.y())) {
        boolean boundary = engine.isGradientAccumulationBoundary();
        double lr = engine.getLr();
        engine.backward(loss);
        engine.step();
        lossSum += loss.item_double();
        lossCount++;
        if (boundary) {
          double mean = engine.meanOverRanks(lossSum / lossCount);
          lossSum = 0;
          lossCount = 0;
          first = Double.isNaN(first) ? mean : first;
          last = mean;
          long step = engine.globalSteps();
          if (engine.rank() == 0 && (step == 1 || step % 10 == 0 || step == steps)) {
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.printf(
                Locale.ROOT,
                "step=%d loss=%.4f lr=%.3e samples/s=%.1f%n",
                step,
                mean,
                lr,
                step * engine.config().trainBatchSize() / seconds);
          }
        }
      }
    }
    if (engine.rank() == 0) {
      System.out.printf(
          Locale.ROOT,
          "demo: loss %.4f -> %.4f over %d steps (%s)%n",
          first,
          last,
          steps,
          last < first ? "falling" : "NOT falling");
      System.out.println("demo: " + engine.memoryBreakdown());
    }
  }

  private static String shippedConfig() {
    try (InputStream in = DemoTraining.class.getResourceAsStream("ds_config.json")) {
      if (in == null) {
        throw new IllegalStateException("the demo's ds_config.json resource is missing");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static String arg(String[] args, String name, String def) {
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals(name)) {
        if (i + 1 >= args.length) {
          throw new IllegalArgumentException(name + " needs a value");
        }
        return args[i + 1];
      }
    }
    return def;
  }
}
