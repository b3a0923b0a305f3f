package org.zero4j.zero;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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

  // Tensors that the training loop drops (autograd's, the step's) free their native memory when
  // the garbage collector finds them; collect so that their memory is not mistaken for state.
  private static void collectGarbage() {
    System.gc();
    try {
      Thread.sleep(50);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

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
              System.gc();
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
                  zero.beforeBackward();
                  // Intermediates are closed by hand: a PointerScope around backward would also
                  // take the tensors the optimizer's gradient hooks create.
                  List<Tensor> temps = new ArrayList<>();
                  Tensor loss = torch.zeros(1);
                  temps.add(loss);
                  for (int i = 0; i < SIZES.length; i++) {
                    Tensor prod = params.get(i).tensor().mul(coef.get(i));
                    Tensor sum = prod.sum();
                    loss = loss.add(sum);
                    temps.addAll(List.of(prod, sum, loss));
                  }
                  loss.backward();
                  temps.forEach(Tensor::close);
                  zero.afterBackward();
                  collectGarbage();
                  ResidentMemory.resetPeak();
                  System.out.printf(
                      "after backward %d: rss %d hwm %d%n",
                      step, ResidentMemory.current() >> 20, ResidentMemory.peak() >> 20);
                  zero.step(hp, step, 1.0, 1.0);
                  stepPeak = Math.max(stepPeak, ResidentMemory.peak());
                  collectGarbage();
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
