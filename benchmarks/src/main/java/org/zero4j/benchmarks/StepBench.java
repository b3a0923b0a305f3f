package org.zero4j.benchmarks;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.engine.Engine;
import org.zero4j.engine.Zero4j;
import org.zero4j.engine.demo.GptConfig;
import org.zero4j.engine.demo.GptModel;
import org.zero4j.zero.comm.Collectives;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Step time of ZeRO stages 1, 2 and 3 relative to stage 0 (plain data parallel) on the same GPT
 * model, and bytes communicated per step relative to ZeRO's 2Ψ, on N Gloo ranks in one run. Stage 3
 * runs with {@code stage3_param_persistence_threshold} 0 and {@code stage3_max_reuse_distance} 0
 * and three prefetch buckets: DeepSpeed's default 5e7 ("3+prefetch"), which on a model this small
 * keeps every block gathered from its forward to its backward (2Ψ per step, as DeepSpeed does);
 * about two blocks ("3+prefetch 2"), so that every block is gathered in forward and again in
 * backward (3Ψ); and 0 ("3 no-prefetch", 3Ψ). A fourth stage-3 variant, "3 defaults", keeps all of
 * DeepSpeed's stage-3 defaults (persistence 1e5 elements, reuse distance and live parameters 1e9,
 * prefetch 5e7): 2Ψ.
 *
 * <p>Each rank is a thread with its own Gloo group and one intra-op thread, so N ranks use N cores.
 * Stages run interleaved round by round (0, 1, 2, 0, 1, 2, ...) so that machine noise hits all of
 * them alike; the ratios are of per-step medians.
 *
 * <p>Run: {@code bin/zero4j bench step [--world 2] [--rounds 5] [--steps 6] [--layers 4] [--embd
 * 128] [--precision fp32|bf16] [--overlap true|false] [--bucket 5e5] [--stages 0,1,2,3]}; {@code
 * backward_ms} is the median time of {@code engine.backward} alone (the rest of a step is forward
 * and {@code engine.step}).
 */
public final class StepBench {

  private static final int BLOCK = 64;
  private static final int MICRO = 8;

  /** One configuration under test. */
  private record Variant(String label, int stage, String stage3) {}

  // Every variant, for blocks of blockNumel elements. "3+prefetch" uses DeepSpeed's default bucket
  // (5e7), which covers a model this small: its prefetch scan reaches each unit's backward use
  // while the unit is gathered, so nothing is released between forward and backward (2Ψ per step,
  // as in DeepSpeed; Note [prefetch scan keeps what it passes]). "3+prefetch 2" prefetches about
  // two blocks ahead, so that blocks are released after forward and gathered again (3Ψ).
  private static List<Variant> allVariants(long blockNumel) {
    return List.of(
        new Variant("0", 0, ""),
        new Variant("1", 1, ""),
        new Variant("2", 2, ""),
        new Variant("3+prefetch", 3, s3(50_000_000L)),
        new Variant("3+prefetch 2", 3, s3(2 * blockNumel + blockNumel / 2)),
        new Variant("3 no-prefetch", 3, s3(0)),
        new Variant("3 defaults", 3, ""));
  }

  private static String s3(long prefetch) {
    return ", \"stage3_param_persistence_threshold\": 0, \"stage3_max_reuse_distance\": 0,"
        + " \"stage3_prefetch_bucket_size\": "
        + prefetch;
  }

  private StepBench() {}

  // --stages 0,2 runs only those stages (stage 0 always, as the baseline); "3" means both stage-3
  // variants.
  private static List<Variant> variants(String stages, long blockNumel) {
    List<String> wanted = Arrays.asList(stages.split(","));
    List<Variant> out = new ArrayList<>();
    for (Variant v : allVariants(blockNumel)) {
      if (v.stage() == 0 || wanted.contains(Integer.toString(v.stage()))) {
        out.add(v);
      }
    }
    return out;
  }

  public static void main(String[] args) {
    int world = intArg(args, "--world", 2);
    int rounds = intArg(args, "--rounds", 12);
    int steps = intArg(args, "--steps", 4);
    int layers = intArg(args, "--layers", 4);
    int embd = intArg(args, "--embd", 128);
    String precision = stringArg(args, "--precision", "fp32");
    String overlap = stringArg(args, "--overlap", "true");
    String bucket = stringArg(args, "--bucket", "5e5");
    // a transformer block: attention (4 embd x embd + biases) and MLP (8 embd x embd + biases)
    long blockNumel = 12L * embd * embd + 13L * embd;
    List<Variant> variants = variants(stringArg(args, "--stages", "0,1,2,3"), blockNumel);
    // Note [one BLAS thread per rank]: the ranks are threads of this JVM, each with one intra-op
    // thread, but OpenBLAS keeps one pool per process, sized to the cores, that both ranks' fp32
    // matmuls hand work to; its threads spin while waiting, and on a shared 2-core machine that
    // made fp32 steps 2-10x slower and far noisier than bf16 ones. The launcher's rank processes
    // get one BLAS thread each through OMP_NUM_THREADS, which OpenBLAS also reads; this does the
    // same for the in-process ranks.
    org.bytedeco.openblas.global.openblas_full.openblas_set_num_threads(1);
    GptConfig gpt = new GptConfig(96, BLOCK, layers, 4, embd, 7);
    System.out.printf(
        Locale.ROOT,
        "StepBench: world=%d layers=%d embd=%d precision=%s micro_batch=%d block=%d rounds=%d"
            + " steps/round=%d%n",
        world,
        layers,
        embd,
        precision,
        MICRO,
        BLOCK,
        rounds,
        steps);
    List<Result[]> perRank =
        LocalRanks.run(
            world,
            Duration.ofMinutes(10),
            c -> runRank(c, variants, gpt, precision, overlap, bucket, rounds, steps));
    report(perRank.get(0), precision);
  }

  /**
   * Per stage: all step times (ms), the median step time of each round, and bytes of the last
   * measured step.
   */
  private record Result(
      Variant variant,
      double[] stepMillis,
      double[] roundMedians,
      double[] backwardMillis,
      long bytesPerStep,
      long transportPerStep,
      long psi) {}

  @SuppressWarnings("try") // the PointerScope is used for its close()
  private static Result[] runRank(
      Collectives comm,
      List<Variant> variants,
      GptConfig gpt,
      String precision,
      String overlap,
      String bucket,
      int rounds,
      int steps) {
    torch.set_num_threads(1);
    int n = variants.size();
    Engine[] engines = new Engine[n];
    GptModel[] models = new GptModel[n];
    for (int v = 0; v < n; v++) {
      models[v] = build(gpt);
      engines[v] =
          Zero4j.setup(models[v])
              .config(config(variants.get(v), precision, overlap, bucket))
              .collectives(comm)
              .start();
    }
    long psi = models[0].parameterCount();
    List<List<Double>> times = new ArrayList<>();
    List<List<Double>> backward = new ArrayList<>();
    for (int v = 0; v < n; v++) {
      times.add(new ArrayList<>());
      backward.add(new ArrayList<>());
    }
    double[][] roundMedians = new double[n][rounds];
    long[] bytes = new long[n];
    long[] transport = new long[n];
    Tensor x;
    Tensor y;
    synchronized (StepBench.class) {
      torch.manual_seed(100 + comm.rank());
      x = torch.randint(96, new long[] {MICRO, BLOCK});
      y = torch.randint(96, new long[] {MICRO, BLOCK});
    }
    for (int round = -1; round < rounds; round++) { // round -1 warms up
      for (int k = 0; k < n; k++) {
        int v = Math.floorMod(round + k, n); // rotate the order so no variant always goes first
        double[] inRound = new double[steps];
        for (int s = 0; s < steps; s++) {
          comm.barrier();
          comm.stats().reset();
          long t0 = System.nanoTime();
          long tb0;
          long tb1;
          // Note [scoped step]: forward's temporaries are freed when the scope closes, not when
          // the GC gets to them, so every variant pays the same for memory.
          try (PointerScope scope = new PointerScope()) {
            Tensor loss = models[v].loss(x, y);
            tb0 = System.nanoTime();
            engines[v].backward(loss);
            tb1 = System.nanoTime();
            engines[v].step();
          }
          long t1 = System.nanoTime();
          bytes[v] = comm.stats().totalBytes();
          transport[v] = comm.stats().totalTransportBytes();
          inRound[s] = (t1 - t0) / 1e6;
          if (round >= 0) {
            times.get(v).add(inRound[s]);
            backward.get(v).add((tb1 - tb0) / 1e6);
          }
        }
        if (round >= 0) {
          roundMedians[v][round] = median(inRound);
        }
      }
    }
    Result[] out = new Result[n];
    for (int v = 0; v < n; v++) {
      double[] t = times.get(v).stream().mapToDouble(Double::doubleValue).toArray();
      double[] b = backward.get(v).stream().mapToDouble(Double::doubleValue).toArray();
      out[v] = new Result(variants.get(v), t, roundMedians[v], b, bytes[v], transport[v], psi);
      engines[v].close();
    }
    return out;
  }

  private static synchronized GptModel build(GptConfig gpt) {
    return new GptModel(gpt);
  }

  private static String config(Variant v, String precision, String overlap, String bucket) {
    String p = precision.equals("bf16") ? "\"bf16\": {\"enabled\": true}," : "";
    return """
        {"train_micro_batch_size_per_gpu": %d, %s
         "gradient_clipping": 1.0,
         "optimizer": {"type": "AdamW", "params": {"lr": 1e-4, "weight_decay": 0.01}},
         "zero_optimization": {"stage": %d, "overlap_comm": %s,
                               "reduce_bucket_size": %s, "allgather_bucket_size": %s%s}}
        """
        .formatted(MICRO, p, v.stage(), overlap, bucket, bucket, v.stage3());
  }

  private static void report(Result[] r, String precision) {
    int wireBytes = precision.equals("bf16") ? 2 : 4;
    double base = median(r[0].stepMillis());
    System.out.printf(Locale.ROOT, "Ψ = %d parameters%n", r[0].psi());
    System.out.println(
        "variant        median_step_ms  p25_ms  p75_ms  backward_ms  ratio_vs_stage0  paired_ratio"
            + "  bytes/step  ratio_vs_2Ψ  gloo_transport_vs_2Ψ");
    for (Result x : r) {
      double med = median(x.stepMillis());
      double twoPsi = 2.0 * x.psi() * wireBytes;
      System.out.printf(
          Locale.ROOT,
          "%-13s  %14.2f  %6.1f  %6.1f  %11.1f  %15.3f  %12.3f  %10d  %11.4f  %20.4f%n",
          x.variant().label(),
          med,
          percentile(x.stepMillis(), 0.25),
          percentile(x.stepMillis(), 0.75),
          median(x.backwardMillis()),
          med / base,
          pairedRatio(x.roundMedians(), r[0].roundMedians()),
          x.bytesPerStep(),
          x.bytesPerStep() / twoPsi,
          x.transportPerStep() / twoPsi);
    }
    System.out.println(
        "(bytes: logical message sizes, see CommStats; 2Ψ is in the wire precision, "
            + wireBytes
            + " bytes/element; the norm all-reduce adds 16 bytes at stages 1-3; stage 3's"
            + " divergence headers (88 bytes per rank) are exchanged only in iterations that differ"
            + " from the one before, so none in steady state; paired_ratio is"
            + " the median over rounds of the stage's round median / stage 0's round median;"
            + " gloo_transport counts what Gloo moves: reduce-scatters go as all-to-alls, an"
            + " all-reduce moves twice its message)");
  }

  // Note [paired ratio]: the machine drifts over a run; dividing each round's median by stage 0's
  // median of the same round cancels the drift, and the median over rounds drops outlier rounds.
  private static double pairedRatio(double[] stage, double[] base) {
    double[] ratios = new double[stage.length];
    for (int i = 0; i < stage.length; i++) {
      ratios[i] = stage[i] / base[i];
    }
    return median(ratios);
  }

  private static double percentile(double[] v, double q) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s[(int) Math.min(s.length - 1, Math.round(q * (s.length - 1)))];
  }

  private static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    int n = s.length;
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }

  private static int intArg(String[] args, String name, int def) {
    String v = stringArg(args, name, null);
    return v == null ? def : Integer.parseInt(v);
  }

  private static String stringArg(String[] args, String name, String def) {
    for (int i = 0; i + 1 < args.length; i++) {
      if (args[i].equals(name)) {
        return args[i + 1];
      }
    }
    return def;
  }
}
