package org.zero4j.zero.stage3;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.LinearImpl;
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
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.OptimizerOffload;
import org.zero4j.zero.Precision;
import org.zero4j.zero.Stage3Config;
import org.zero4j.zero.StepResult;
import org.zero4j.zero.comm.LocalRanks;

/**
 * The child process of {@link Stage3OffloadMemoryTest}: builds {@link #LAYERS} bf16 Linear units of
 * width {@link #HIDDEN} one at a time through {@link PartitionedInit}, trains them at stage 3 (one
 * rank) for three steps with parameters and optimizer state on NVMe ({@code args[1] = nvme}, swap
 * files in {@code args[0]}) or everything in memory ({@code none}), and prints {@code baseline=}
 * (the resident set before any tensor of the measured model exists) and {@code peak=} ({@code
 * VmHWM}, reset at the baseline, read after the last step: model build, optimizer setup, three
 * forward/backward/step rounds).
 */
public final class Stage3OffloadMemoryProbe {

  static final int HIDDEN = 1021;
  static final int LAYERS = 40;

  private Stage3OffloadMemoryProbe() {}

  public static void main(String[] args) {
    torch.set_num_threads(1);
    boolean nvme = args[1].equals("nvme");
    // Note [warm-up before the baseline]: the baseline is the JVM (heap pre-touched), libtorch,
    // the Gloo group, the Adam kernel and the aio library loaded, and the code of a stage-3 step
    // run once: a 2-unit model of width 67 (9 KB of state) trains three steps with the same
    // offload settings and is closed. What grows after it is the measured model's memory, the
    // swap buffers and the step's transients, not one-time loading or JIT warm-up.
    train(args[0], nvme, 2, 67, 1 << 10);
    long baseline = ResidentMemory.current();
    ResidentMemory.resetPeak();
    System.out.printf("baseline: rss %d MiB%n", baseline >> 20);
    // Note [no garbage collection]: the test runs this child with JavaCPP's nopointergc, so the
    // garbage collector never frees native memory, and nothing here calls it: a handle that the
    // engine drops without closing stays resident and shows in the peak. The training loop frees
    // its own tensors the way a Java user is told to (a PointerScope per step); the engine must
    // free everything it allocates itself.
    train(args[0], nvme, LAYERS, HIDDEN, 1 << 18);
    System.out.println("baseline=" + baseline);
    System.out.println("peak=" + ResidentMemory.peak());
    System.exit(0);
  }

  /** Elements of the measured model. */
  static long modelNumel() {
    return LAYERS * ((long) HIDDEN * HIDDEN + HIDDEN);
  }

  @SuppressWarnings("try") // the PointerScope is used for its close()
  private static void train(String dir, boolean nvme, int layers, int hidden, long subGroup) {
    long unitNumel = (long) hidden * hidden + hidden;
    LocalRanks.run(
        1,
        Duration.ofSeconds(60),
        comm -> {
          PartitionedInit init = new PartitionedInit(comm, Precision.BF16);
          List<ShardedUnit> units = new ArrayList<>();
          List<NamedParameter> named = new ArrayList<>();
          for (int i = 0; i < layers; i++) {
            LinearImpl l;
            synchronized (Stage3OffloadMemoryProbe.class) {
              torch.manual_seed(100 + i);
              l = new LinearImpl(hidden, hidden);
            }
            ShardedUnit u =
                init.partition(ShardedUnit.of("l" + i, l, x -> torch.tanh(l.forward(x))));
            int k = 0;
            for (Tensor t : u.parameters()) {
              named.add(new NamedParameter("l" + i + "#" + k++, t));
            }
            units.add(u);
          }
          System.out.printf(
              "after build: rss %d hwm %d MiB%n",
              ResidentMemory.current() >> 20, ResidentMemory.peak() >> 20);
          OptimizerOffload optimizer = OptimizerOffload.NONE;
          ParamOffload param = ParamOffload.NONE;
          if (nvme) {
            AioConfig aio = new AioConfig(1 << 20, 8, 2, false, true, false);
            optimizer =
                new OptimizerOffload(
                    new OffloadOptimizerConfig(
                        OffloadDevice.NVME, dir, true, 6, true, true, false, 1.0, false, 0.8),
                    aio,
                    subGroup,
                    FreeSpaceProbe.FILESYSTEM);
            param =
                new ParamOffload(
                    new OffloadParamConfig(OffloadDevice.NVME, dir, true, 2, unitNumel, 0),
                    aio,
                    FreeSpaceProbe.FILESYSTEM);
          }
          Stage3Config s3 = new Stage3Config(unitNumel, 0, 0, unitNumel, 0, false, 0, false, false);
          AdamHyperparams hp = new AdamHyperparams(1e-3, 0.9, 0.999, 1e-8, 0.01, true, true);
          try (Stage3Optimizer zero =
              new Stage3Optimizer(
                  named,
                  units,
                  new Stage3Options(Precision.BF16, Precision.BF16, 1 << 20, true, true, s3),
                  comm,
                  new CpuAdam(1),
                  optimizer,
                  param)) {
            System.out.printf(
                "after init: rss %d hwm %d MiB (%s)%n",
                ResidentMemory.current() >> 20, ResidentMemory.peak() >> 20, zero.memory());
            for (int step = 1; step <= 3; step++) {
              // The user's side of the contract: the step's own tensors (input, activations,
              // loss, autograd's graph) are freed when the scope closes.
              try (PointerScope scope = new PointerScope()) {
                Tensor x;
                synchronized (Stage3OffloadMemoryProbe.class) {
                  torch.manual_seed(7 + step);
                  x = torch.randn(4, hidden).to(torch.ScalarType.BFloat16);
                }
                zero.beforeBackward();
                Tensor y = x;
                for (ShardedUnit u : units) {
                  y = u.forward(y);
                }
                Tensor loss = y.to(torch.ScalarType.Float).square().mean();
                loss.backward();
                zero.afterBackward();
                StepResult res = zero.step(hp, step, 1.0, 1.0);
                System.out.printf(
                    "step %d: loss %.6f norm %.4f rss %d hwm %d MiB%n",
                    step,
                    loss.item_double(),
                    res.gradNorm(),
                    ResidentMemory.current() >> 20,
                    ResidentMemory.peak() >> 20);
              }
            }
          }
          return null;
        });
  }
}
