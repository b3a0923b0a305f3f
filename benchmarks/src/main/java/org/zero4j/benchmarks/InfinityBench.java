package org.zero4j.benchmarks;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.offload.AioConfig;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.offload.OffloadOptimizerConfig;
import org.zero4j.offload.OffloadParamConfig;
import org.zero4j.offload.swap.FreeSpaceProbe;
import org.zero4j.offload.swap.ResidentMemory;
import org.zero4j.zero.MemoryBreakdown;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.OptimizerOffload;
import org.zero4j.zero.Precision;
import org.zero4j.zero.Stage3Config;
import org.zero4j.zero.StepResult;
import org.zero4j.zero.comm.LocalRanks;
import org.zero4j.zero.stage3.ParamOffload;
import org.zero4j.zero.stage3.PartitionedInit;
import org.zero4j.zero.stage3.ShardedUnit;
import org.zero4j.zero.stage3.Stage3Optimizer;
import org.zero4j.zero.stage3.Stage3Options;

/**
 * {@code zero4j bench infinity [--params 2.2e9] [--hidden 8192] [--ranks 1] [--dir D] [--rows 4]}:
 * ZeRO-Infinity on one machine. Builds a stack of {@code hidden x hidden} Linear layers (each a
 * sharding unit, built and partitioned one at a time by {@link PartitionedInit}, so no rank ever
 * holds the whole model) with at least {@code --params} parameters in bf16, and runs one full
 * training step (forward, backward, AdamW) at ZeRO stage 3 with parameters and optimizer state
 * offloaded to NVMe under {@code --dir}. Model state is 16 bytes per parameter (bf16 parameters and
 * gradients, fp32 master and two moments), more than the machine's RAM at 2B parameters. Prints the
 * time of each phase and the peak resident set ({@code VmHWM}) against the RAM size.
 */
public final class InfinityBench {

  private InfinityBench() {}

  public static void main(String[] args) throws IOException {
    double params = 2.2e9;
    int hidden = 8192;
    int ranks = 1;
    int rows = 4;
    Path dir = Path.of("/work/zero4j-infinity");
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--params" -> params = Double.parseDouble(args[i + 1]);
        case "--hidden" -> hidden = Integer.parseInt(args[i + 1]);
        case "--ranks" -> ranks = Integer.parseInt(args[i + 1]);
        case "--rows" -> rows = Integer.parseInt(args[i + 1]);
        case "--dir" -> dir = Path.of(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    Files.createDirectories(dir);
    long perLayer = (long) hidden * hidden + hidden;
    int layers = (int) Math.ceil(params / perLayer);
    long total = perLayer * layers;
    long ram = memTotal();
    System.out.printf(
        "model: %d Linear(%d, %d) units, %.3f G params; state %.1f GB (16 B/param) vs RAM %.1f"
            + " GiB; swap dir %s with %.1f GB free%n",
        layers,
        hidden,
        hidden,
        total / 1e9,
        total * 16 / 1e9,
        ram / (double) (1L << 30),
        dir,
        FreeSpaceProbe.FILESYSTEM.usableBytes(dir) / 1e9);
    final int h = hidden;
    final int n = layers;
    final int r = rows;
    final Path d = dir;
    List<String> lines =
        LocalRanks.run(ranks, Duration.ofHours(2), comm -> run(comm, n, h, r, d)).get(0);
    lines.forEach(System.out::println);
  }

  @SuppressWarnings("try") // the PointerScope is used for its close()
  private static List<String> run(
      org.zero4j.zero.comm.Collectives comm, int layers, int hidden, int rows, Path dir) {
    List<String> out = new ArrayList<>();
    int world = comm.worldSize();
    torch.get_num_threads(); // libtorch loaded: the start is the JVM and its libraries
    String start = gib(ResidentMemory.current());
    long t0 = System.nanoTime();
    PartitionedInit init = new PartitionedInit(comm, Precision.BF16);
    List<ShardedUnit> units = new ArrayList<>();
    List<NamedParameter> named = new ArrayList<>();
    for (int i = 0; i < layers; i++) {
      LinearImpl l;
      synchronized (InfinityBench.class) { // libtorch's generator is shared by the rank threads
        torch.manual_seed(1000 + i);
        l = new LinearImpl(hidden, hidden);
      }
      ShardedUnit u = init.partition(ShardedUnit.of("l" + i, l, x -> torch.tanh(l.forward(x))));
      int k = 0;
      for (Tensor t : u.parameters()) {
        named.add(new NamedParameter("l" + i + "#" + k++, t));
      }
      units.add(u);
    }
    double build = seconds(t0);
    String hwm = "RSS at start " + start + "; peak RSS (now) after build " + rss();
    long unitChunk = ((long) hidden * hidden + hidden + world - 1) / world;
    long subGroup = 50_000_000L;
    OffloadOptimizerConfig oc =
        new OffloadOptimizerConfig(
            OffloadDevice.NVME, dir.toString(), true, 6, true, true, true, 1.0, false, 0.8);
    AioConfig aio = new AioConfig(1 << 20, 16, 2, false, true, false);
    OffloadParamConfig pc =
        new OffloadParamConfig(OffloadDevice.NVME, dir.toString(), true, 3, unitChunk, 0);
    Stage3Config s3 =
        new Stage3Config(
            2 * (long) hidden * hidden, 0, 0, 4L * hidden * hidden, 0, false, 0, false, false);
    long t1 = System.nanoTime();
    try (Stage3Optimizer zero =
        new Stage3Optimizer(
            named,
            units,
            new Stage3Options(Precision.BF16, Precision.BF16, 200_000_000L, true, true, s3),
            comm,
            new CpuAdam(Math.max(1, torch.get_num_threads())),
            OptimizerOffload.of(oc, aio, subGroup),
            new ParamOffload(pc, aio, FreeSpaceProbe.FILESYSTEM))) {
      double setup = seconds(t1);
      hwm += ", setup " + rss();
      double fwd;
      double bwd;
      double step;
      double lossValue;
      StepResult res;
      // The caller's side of native memory, as a training loop does it: the step's own tensors
      // (input, activations, loss, autograd's graph) are freed when the scope closes.
      try (PointerScope scope = new PointerScope()) {
        Tensor x;
        synchronized (InfinityBench.class) {
          torch.manual_seed(7 + comm.rank());
          x = torch.randn(rows, hidden).to(torch.ScalarType.BFloat16);
        }
        long t2 = System.nanoTime();
        Tensor y = x;
        for (ShardedUnit u : units) {
          y = u.forward(y);
        }
        Tensor loss = y.to(torch.ScalarType.Float).pow(new Scalar(2)).mean();
        fwd = seconds(t2);
        hwm += ", forward " + rss();
        long t3 = System.nanoTime();
        zero.beforeBackward();
        loss.backward();
        zero.afterBackward();
        bwd = seconds(t3);
        hwm += ", backward " + rss();
        long t4 = System.nanoTime();
        res = zero.step(new AdamHyperparams(1e-4, 0.9, 0.999, 1e-8, 0.01, true, true), 1, 1.0, 1.0);
        step = seconds(t4);
        hwm += ", step " + rss() + " (VmHWM and VmRSS, GiB)";
        lossValue = loss.item_double();
      }
      out.add(hwm);
      MemoryBreakdown m = zero.memory();
      out.add(
          String.format(
              "rank %d of %d: loss %.6f, grad norm %.4f, skipped %b",
              comm.rank(), world, lossValue, res.gradNorm(), res.skipped()));
      out.add(
          String.format(
              "build+partition %.1f s, optimizer+swap setup %.1f s, forward %.1f s, backward"
                  + " %.1f s, optimizer step %.1f s: training step %.1f s",
              build, setup, fwd, bwd, step, fwd + bwd + step));
      out.add(
          String.format(
              "peak RSS (VmHWM) %.2f GiB; this rank: nvme %.1f GB, host %.2f GB, device %.2f GB"
                  + " (%s)",
              ResidentMemory.peak() / (double) (1L << 30),
              m.nvmeBytes() / 1e9,
              m.hostBytes() / 1e9,
              m.deviceBytes() / 1e9,
              m));
    }
    return out;
  }

  // The peak so far and, in parentheses, the resident set now.
  private static String rss() {
    return gib(ResidentMemory.peak()) + " (" + gib(ResidentMemory.current()) + ")";
  }

  private static String gib(long bytes) {
    return String.format("%.2f", bytes / (double) (1L << 30));
  }

  private static double seconds(long start) {
    return (System.nanoTime() - start) / 1e9;
  }

  private static long memTotal() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
      if (line.startsWith("MemTotal:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
      }
    }
    return -1;
  }
}
