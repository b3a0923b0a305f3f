package org.zero4j.zero;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.offload.AioConfig;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.offload.OffloadOptimizerConfig;
import org.zero4j.offload.swap.ResidentMemory;
import org.zero4j.zero.comm.LocalRanks;

/**
 * The child process of {@link OffloadMemoryTest}: trains 24M parameters at stage 1 for three steps
 * with the optimizer state on NVMe ({@code args[1] = nvme}, swap files in {@code args[0]}) or in
 * memory ({@code none}), and prints the peak resident growth beyond the model and its gradients.
 */
public final class OffloadMemoryProbe {

  static final long[] SIZES = {8_000_037, 7_999_989, 8_000_001};

  private OffloadMemoryProbe() {}

  public static void main(String[] args) {
    torch.set_num_threads(1);
    OptimizerOffload offload = OptimizerOffload.NONE;
    if (args[1].equals("nvme")) {
      OffloadOptimizerConfig c =
          new OffloadOptimizerConfig(
              OffloadDevice.NVME, args[0], true, 9, true, true, false, 1.0, false, 0.8);
      offload =
          new OptimizerOffload(
              c, new AioConfig(1 << 20, 8, 2, false, true, false), 1 << 18, d -> Long.MAX_VALUE);
    }
    System.out.println("growth=" + growth(offload));
    System.exit(0);
  }

  // Note [no garbage collection] in Stage3OffloadMemoryProbe: this child runs with JavaCPP's
  // nopointergc and never calls the collector; the loop frees its tensors with a PointerScope per
  // step, and whatever the optimizer allocates it must free itself.
  @SuppressWarnings("try") // the PointerScope is used for its close()
  private static long growth(OptimizerOffload offload) {
    return LocalRanks.run(
            1,
            Duration.ofSeconds(60),
            comm -> {
              List<NamedParameter> params = new ArrayList<>();
              List<Tensor> coef = new ArrayList<>();
              synchronized (OffloadMemoryProbe.class) {
                torch.manual_seed(11);
                for (int i = 0; i < SIZES.length; i++) {
                  Tensor p = torch.randn(SIZES[i]);
                  p.requires_grad_(true);
                  params.add(new NamedParameter("p" + i, p));
                  coef.add(torch.randn(SIZES[i]));
                }
              }
              long before = ResidentMemory.current();
              ZeroOptimizer.Options o =
                  new ZeroOptimizer.Options(
                      2,
                      Precision.FP32,
                      Precision.FP32,
                      1_000_000,
                      1_000_000,
                      true,
                      true,
                      true,
                      true);
              AdamHyperparams hp = new AdamHyperparams(1e-3, 0.9, 0.999, 1e-8, 0.0, true, true);
              try (ZeroOptimizer zero =
                  new ZeroOptimizer(params, o, comm, new CpuAdam(2), offload)) {
                long stepPeak = 0;
                System.out.printf(
                    "after init: rss %d hwm %d%n",
                    ResidentMemory.current() >> 20, ResidentMemory.peak() >> 20);
                for (int step = 1; step <= 3; step++) {
                  try (PointerScope scope = new PointerScope()) {
                    zero.beforeBackward();
                    Tensor loss = torch.zeros(1);
                    for (int i = 0; i < SIZES.length; i++) {
                      loss = loss.add(params.get(i).tensor().mul(coef.get(i)).sum());
                    }
                    loss.backward();
                    zero.afterBackward();
                  }
                  ResidentMemory.resetPeak();
                  System.out.printf(
                      "after backward %d: rss %d hwm %d%n",
                      step, ResidentMemory.current() >> 20, ResidentMemory.peak() >> 20);
                  try (PointerScope scope = new PointerScope()) {
                    zero.step(hp, step, 1.0, 1.0);
                  }
                  stepPeak = Math.max(stepPeak, ResidentMemory.peak());
                  System.out.printf(
                      "after step %d: rss %d hwm %d%n",
                      step, ResidentMemory.current() >> 20, ResidentMemory.peak() >> 20);
                }
                long peak = stepPeak;
                long grads = zero.memory().grads();
                System.out.printf(
                    "offload %s: before %d MiB, peak %d MiB, grads %d MiB%n",
                    offload.device(), before >> 20, peak >> 20, grads >> 20);
                return peak - before - grads;
              }
            })
        .get(0);
  }
}
