package org.zero4j.benchmarks;

import java.util.Arrays;
import java.util.Collection;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.zero4j.kernels.adam.CpuAdam;

/**
 * Runs {@link AdamBench} and prints, per size and thread count, G params/s of each optimizer, the
 * triad bandwidth, the ratio R = zero4j / libtorch and the roofline fraction F = (28 bytes x zero4j
 * params/s) / triad bandwidth. The last line has the fixed form that {@code zero4j bench adam}
 * reports:
 *
 * <pre>adam: zero4j X Gparam/s, libtorch Y Gparam/s, ratio R x, roofline F</pre>
 *
 * for the largest size and thread count of the run.
 */
public final class AdamBenchReport {
  /** Bytes one Adam step moves per fp32 parameter with fp32 gradients. */
  static final double BYTES_PER_PARAM = 28;

  private AdamBenchReport() {}

  /** Runs the benchmark ({@code --short}: 16M params, 2 threads, brief iterations) and reports. */
  public static void run(String[] args) throws Exception {
    ChainedOptionsBuilder options = new OptionsBuilder().include(AdamBench.class.getName() + "\\.");
    if (Arrays.asList(args).contains("--short")) {
      options
          .param("params", "16777216")
          .param("threads", "2")
          .warmupIterations(1)
          .warmupTime(TimeValue.milliseconds(500))
          .measurementIterations(3)
          .measurementTime(TimeValue.milliseconds(500));
    }
    System.out.println(CpuAdam.report());
    Collection<RunResult> results = new Runner(options.build()).run();
    System.out.println();
    System.out.println(CpuAdam.report());
    System.out.print(summarize(results));
  }

  /** The table and the final summary line for a set of JMH results (scores in ms/op). */
  static String summarize(Collection<RunResult> results) {
    Map<Long, Map<Integer, Map<String, Double>>> ms = new TreeMap<>();
    for (RunResult r : results) {
      BenchmarkParams p = r.getParams();
      String method = p.getBenchmark().substring(p.getBenchmark().lastIndexOf('.') + 1);
      long params = Long.parseLong(p.getParam("params"));
      int threads = Integer.parseInt(p.getParam("threads"));
      ms.computeIfAbsent(params, k -> new TreeMap<>())
          .computeIfAbsent(threads, k -> new TreeMap<>())
          .put(method, r.getPrimaryResult().getScore());
    }
    StringBuilder out = new StringBuilder();
    out.append(
        String.format(
            Locale.ROOT,
            "%10s %7s %14s %14s %14s %12s %12s %9s %9s %9s%n",
            "params",
            "threads",
            "zero4j Gp/s",
            "libtorch Gp/s",
            "java Gp/s",
            "triad GB/s",
            "probe GB/s",
            "R",
            "F",
            "F28"));
    String last = "adam: no complete result (zero4j, libtorch and triad all need a score)";
    for (var bySize : ms.entrySet()) {
      long params = bySize.getKey();
      for (var byThreads : bySize.getValue().entrySet()) {
        Map<String, Double> m = byThreads.getValue();
        double zero4j = gparams(params, m.get("zero4j"));
        double libtorch = gparams(params, m.get("libtorch"));
        double java = gparams(params, m.get("javaLoop"));
        double triadGBs = gparams(params, m.get("triad")) * BYTES_PER_PARAM;
        double probeGBs = gparams(params, m.get("inPlaceProbe")) * BYTES_PER_PARAM;
        double ratio = zero4j / libtorch;
        double roofline = zero4j * BYTES_PER_PARAM / triadGBs;
        double roofline28 = zero4j * BYTES_PER_PARAM / probeGBs;
        out.append(
            String.format(
                Locale.ROOT,
                "%10d %7d %14.3f %14.3f %14.3f %12.1f %12.1f %9.1f %9.2f %9.2f%n",
                params,
                byThreads.getKey(),
                zero4j,
                libtorch,
                java,
                triadGBs,
                probeGBs,
                ratio,
                roofline,
                roofline28));
        if (!Double.isNaN(ratio) && !Double.isNaN(roofline)) {
          last = line(zero4j, libtorch, roofline);
        }
      }
    }
    return out.append(last).append(System.lineSeparator()).toString();
  }

  /** The summary line in the exact form {@code zero4j bench adam} ends with. */
  static String line(double zero4jGparams, double libtorchGparams, double roofline) {
    return String.format(
        Locale.ROOT,
        "adam: zero4j %.3f Gparam/s, libtorch %.3f Gparam/s, ratio %.1f x, roofline %.2f",
        zero4jGparams,
        libtorchGparams,
        zero4jGparams / libtorchGparams,
        roofline);
  }

  private static double gparams(long params, Double millis) {
    return millis == null ? Double.NaN : params / (millis * 1e-3) / 1e9;
  }
}
