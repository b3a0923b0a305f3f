package org.zero4j.zero.stage3;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.offload.AioConfig;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.offload.OffloadParamConfig;
import org.zero4j.offload.swap.FreeSpaceProbe;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.OptimizerOffload;
import org.zero4j.zero.Precision;
import org.zero4j.zero.Stage3Config;
import org.zero4j.zero.StepResult;
import org.zero4j.zero.comm.LocalRanks;

/**
 * A training loop that runs every step in its own {@link PointerScope}, as Java users are told to,
 * frees at each scope's end every native handle made in it. Handles the engine still needs after
 * that must not be among them: here an evaluation forward over only the first units leaves
 * prefetched gathers in flight (with their collectives' work handles and headers, and staged NVMe
 * shard views) when its scope closes, and the next training step, in a new scope, awaits them. Two
 * ranks with {@code offload_param} on NVMe and prefetching must then give the values of one rank
 * without offload or scopes (every rank feeds the same rows, so the averaged gradient is the single
 * rank's exactly; the norm is summed over two shards, so a few ulps are allowed).
 */
class Stage3ScopeTest {

  private static final int WIDTH = 33;
  private static final int LAYERS = 5;

  @TempDir Path dir;

  @Test
  void scopedEvaluationAndTrainingStepsMatchOneRankWithoutScopes() {
    List<Double> reference = run(1, false);
    List<List<Double>> scoped =
        LocalRanks.run(2, Duration.ofSeconds(60), comm -> values(comm, true));
    for (List<Double> rank : scoped) {
      assertEquals(reference.size(), rank.size());
      for (int i = 0; i < reference.size(); i++) {
        assertEquals(
            reference.get(i), rank.get(i), 1e-5 * Math.abs(reference.get(i)), "value " + i);
      }
    }
  }

  private List<Double> run(int world, boolean scoped) {
    return LocalRanks.run(world, Duration.ofSeconds(60), comm -> values(comm, scoped)).get(0);
  }

  @SuppressWarnings("try") // the PointerScopes are used for their close()
  private List<Double> values(org.zero4j.zero.comm.Collectives comm, boolean scoped) {
    List<ShardedUnit> units = new ArrayList<>();
    List<NamedParameter> named = new ArrayList<>();
    for (int i = 0; i < LAYERS; i++) {
      LinearImpl l;
      synchronized (Stage3ScopeTest.class) {
        torch.manual_seed(300 + i);
        l = new LinearImpl(WIDTH, WIDTH);
      }
      ShardedUnit u = ShardedUnit.of("l" + i, l, x -> torch.tanh(l.forward(x)));
      int k = 0;
      for (Tensor t : u.parameters()) {
        named.add(new NamedParameter("l" + i + "#" + k++, t));
      }
      units.add(u);
    }
    long unitNumel = (long) WIDTH * WIDTH + WIDTH;
    ParamOffload param =
        scoped
            ? new ParamOffload(
                new OffloadParamConfig(OffloadDevice.NVME, dir.toString(), true, 3, unitNumel, 0),
                new AioConfig(1 << 20, 8, 2, false, true, false),
                FreeSpaceProbe.FILESYSTEM)
            : ParamOffload.NONE;
    Stage3Config s3 =
        new Stage3Config(3 * unitNumel, 0, 0, 4 * unitNumel, 0, false, 0, false, false);
    AdamHyperparams hp = new AdamHyperparams(1e-2, 0.9, 0.999, 1e-8, 0.01, true, true);
    List<Double> out = new ArrayList<>();
    try (Stage3Optimizer zero =
        new Stage3Optimizer(
            named,
            units,
            new Stage3Options(Precision.FP32, Precision.FP32, 1 << 20, true, true, s3),
            comm,
            new CpuAdam(1),
            OptimizerOffload.NONE,
            param)) {
      for (int step = 1; step <= 4; step++) {
        try (PointerScope scope = scoped ? new PointerScope() : null;
            NoGradGuard noGrad = new NoGradGuard()) {
          Tensor y = input(50 + step);
          for (ShardedUnit u : units.subList(0, step % 2 == 0 ? 2 : LAYERS)) {
            y = u.forward(y);
          }
          out.add(y.sum().item_double());
        }
        try (PointerScope scope = scoped ? new PointerScope() : null) {
          zero.beforeBackward();
          Tensor y = input(step);
          for (ShardedUnit u : units) {
            y = u.forward(y);
          }
          Tensor loss = y.square().mean();
          loss.backward();
          zero.afterBackward();
          StepResult r = zero.step(hp, step, 1.0, 1.0);
          out.add(loss.item_double());
          out.add(r.gradNorm());
        }
      }
    }
    return out;
  }

  private static Tensor input(long seed) {
    synchronized (Stage3ScopeTest.class) {
      torch.manual_seed(seed);
      return torch.randn(5, WIDTH);
    }
  }
}
