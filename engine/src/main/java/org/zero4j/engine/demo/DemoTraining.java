package org.zero4j.engine.demo;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.engine.Engine;
import org.zero4j.engine.Zero4j;
import org.zero4j.engine.checkpoint.CheckpointDir;
import org.zero4j.engine.checkpoint.CheckpointManifest;
import org.zero4j.engine.checkpoint.LoadedCheckpoint;
import org.zero4j.engine.checkpoint.SamplerPosition;
import org.zero4j.engine.checkpoint.SaveFaults;
import org.zero4j.engine.config.AutoValues;
import org.zero4j.engine.data.DistributedSampler;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.zero.comm.Collectives;

/**
 * One rank of the demo: a small GPT trained on the shipped public-domain text from a DeepSpeed JSON
 * config, with the user's own loop ({@code loss = model.loss(...); engine.backward(loss);
 * engine.step();}). Started by {@code zero4j demo} through the launcher; rank 0 prints
 * DeepSpeed-style step lines.
 *
 * <p>Arguments: {@code [--config FILE] [--steps S] [--save-dir D] [--resume D]}. Without {@code
 * --config} the shipped ZeRO-2 config is used. "auto" values resolve from the micro batch of 8 and
 * the step count. {@code --resume D} loads the latest checkpoint in D (at any world size) and
 * trains S more steps, continuing the step count, the LR schedule and the data order; {@code
 * --save-dir D} saves a checkpoint at the end, with the sampler's position.
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

  /**
   * One rank's run.
   *
   * @param configPath DeepSpeed config file, or null for the shipped one
   * @param steps optimizer steps to train (after the resumed step, when resuming)
   * @param saveDir where to save a checkpoint at the end, or null
   * @param resume where to load the latest checkpoint from first, or null
   */
  public record Options(String configPath, int steps, Path saveDir, Path resume) {}

  /** What a run printed: the global mean loss of each step, and the first step it trained. */
  public record Outcome(long firstStep, List<Double> stepLosses) {}

  public static void main(String[] args) {
    String save = arg(args, "--save-dir", null);
    String resume = arg(args, "--resume", null);
    run(
        new Options(
            arg(args, "--config", null),
            Integer.parseInt(arg(args, "--steps", "200")),
            save == null ? null : Path.of(save),
            resume == null ? null : Path.of(resume)),
        null);
  }

  /** Runs one rank; {@code comm} null connects from the environment as {@code initialize} does. */
  public static Outcome run(Options o, Collectives comm) {
    String configPath = o.configPath();
    long resumed =
        o.resume() == null
            ? 0
            : CheckpointManifest.read(CheckpointDir.resolve(o.resume(), null))
                .steps()
                .globalSteps();
    long total = resumed + o.steps();
    String text = DemoCorpus.text();
    CharTokenizer tokenizer = CharTokenizer.fromText(text);
    TextBatches data = new TextBatches(tokenizer.encode(text), BLOCK);
    GptModel model;
    synchronized (DemoTraining.class) { // ranks run as threads share libtorch's generator
      model = new GptModel(new GptConfig(tokenizer.vocabSize(), BLOCK, 2, 4, 64, SEED));
    }

    Zero4j.Setup setup = Zero4j.setup(model).autos(autos((int) total));
    if (comm != null) {
      setup = setup.collectives(comm);
    }
    setup = configPath == null ? setup.config(shippedConfig()) : setup.config(Path.of(configPath));
    if (!hasOptimizerBlock(configPath)) {
      setup = setup.optimizer(DEFAULT_OPTIMIZER);
    }
    try (Engine engine = setup.start()) {
      SamplerPosition from = new SamplerPosition(0, 0);
      if (o.resume() != null) {
        LoadedCheckpoint l = engine.loadCheckpoint(o.resume(), null, true, true, false);
        from = l.sampler() == null ? from : l.sampler();
        if (engine.rank() == 0) {
          System.out.printf(
              Locale.ROOT,
              "demo: resumed %s at step %d (saved by %d ranks), epoch %d after %d micro-batches%n",
              l.directory(),
              l.globalSteps(),
              l.savedWorldSize(),
              from.epoch(),
              from.microBatchesConsumed());
        }
      }
      Run r = train(engine, model, data, total, from);
      if (o.saveDir() != null) {
        Path dir =
            engine.saveCheckpoint(o.saveDir(), null, Map.of(), r.position(), SaveFaults.NONE);
        if (engine.rank() == 0) {
          System.out.println("demo: saved checkpoint " + dir);
        }
      }
      return new Outcome(resumed + 1, r.stepLosses());
    }
  }

  private record Run(List<Double> stepLosses, SamplerPosition position) {}

  @SuppressWarnings("try") // the PointerScope is used for its close()
  private static Run train(
      Engine engine, GptModel model, TextBatches data, long steps, SamplerPosition from) {
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
    long firstStep = engine.globalSteps() + 1;
    List<Double> stepLosses = new ArrayList<>();
    long epoch = from.epoch();
    int consumed = (int) from.microBatchesConsumed();
    sampler.setEpoch(epoch);
    Iterator<int[]> batches = sampler.batches(micro, Math.min(consumed, sampler.numBatches(micro)));
    while (engine.globalSteps() < steps) {
      if (!batches.hasNext()) {
        sampler.setEpoch(++epoch);
        consumed = 0;
        batches = sampler.batches(micro);
      }
      consumed++;
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
          stepLosses.add(mean);
          long step = engine.globalSteps();
          if (engine.rank() == 0 && (step == firstStep || step % 10 == 0 || step == steps)) {
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.printf(
                Locale.ROOT,
                "step=%d loss=%.4f lr=%.3e samples/s=%.1f%n",
                step,
                mean,
                lr,
                (step - firstStep + 1) * engine.config().trainBatchSize() / seconds);
          }
        }
      }
    }
    if (engine.rank() == 0) {
      System.out.printf(
          Locale.ROOT,
          "demo: loss %.4f -> %.4f over steps %d-%d (%s)%n",
          first,
          last,
          firstStep,
          steps,
          last < first ? "falling" : "NOT falling");
      System.out.println("demo: " + engine.memoryBreakdown());
    }
    return new Run(stepLosses, new SamplerPosition(epoch, consumed));
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
