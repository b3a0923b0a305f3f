package org.zero4j.zero.stage3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.Precision;
import org.zero4j.zero.Stage3Config;
import org.zero4j.zero.TorchReference;
import org.zero4j.zero.ZeroOptimizer;
import org.zero4j.zero.ZeroRuntime;
import org.zero4j.zero.comm.LocalRanks;

/**
 * GatheredParameters: the modifier rank's in-place edit of {@code l1.weight} between steps 2 and 3
 * reaches every rank's shard and the fp32 master (the run continues exactly like stage 0 with the
 * same edit on whole parameters), other ranks' edits and edits without a modifier are discarded;
 * the 16-bit consolidated state dict on rank 0 equals the gathered parameters.
 */
class GatheredParametersTest {

  private static final long SEED = 13;
  private static final AdamHyperparams HP =
      new AdamHyperparams(0.01, 0.9, 0.99, 1e-8, 0.1, true, true);

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  @Test
  void modifierRankEditsArePartitionedAndOthersDiscarded() {
    List<List<Tensor>> stage0 = run(0);
    List<List<Tensor>> stage3 = run(3);
    for (int r = 0; r < 2; r++) {
      double diff = TorchReference.maxAbsDiff(stage3.get(r), stage0.get(r));
      assertTrue(diff <= 1e-5, "rank " + r + " differs from stage 0 by " + diff);
    }
  }

  @Test
  void consolidatedStateDictOnRankZero() {
    List<Object[]> out =
        LocalRanks.run(
            2,
            Duration.ofSeconds(60),
            comm -> {
              UnitChain model = UnitChain.create(SEED);
              List<NamedParameter> named = model.named();
              for (NamedParameter p : named) {
                p.tensor().set_data(p.tensor().detach().to(torch.ScalarType.BFloat16));
              }
              try (Stage3Optimizer zero =
                  new Stage3Optimizer(
                      named, model.units, options(Precision.BF16), comm, new CpuAdam(1))) {
                Map<String, Tensor> dict = zero.consolidatedStateDict(0);
                return new Object[] {dict, zero.fullParameters(), zero.liveBytes()};
              }
            });
    @SuppressWarnings("unchecked")
    Map<String, Tensor> dict = (Map<String, Tensor>) out.get(0)[0];
    @SuppressWarnings("unchecked")
    List<Tensor> full = (List<Tensor>) out.get(0)[1];
    assertEquals(List.of("scale", "l0.weight"), new ArrayList<>(dict.keySet()).subList(0, 2));
    assertEquals(full.size(), dict.size());
    int i = 0;
    for (Tensor t : dict.values()) {
      assertEquals(torch.ScalarType.BFloat16.value, t.scalar_type().value);
      assertEquals(
          0.0,
          t.to(torch.ScalarType.Float)
              .sub(full.get(i++).to(torch.ScalarType.Float))
              .abs()
              .max()
              .item_double());
    }
    assertTrue(((Map<?, ?>) out.get(1)[0]).isEmpty(), "only the root rank keeps the state dict");
  }

  private static Stage3Options options(Precision p) {
    return new Stage3Options(
        p,
        p,
        500_000,
        true,
        true,
        new Stage3Config(1000, 0, Long.MAX_VALUE, 1_000_000_000L, 0, false, 0, false, false));
  }

  @SuppressWarnings("try")
  private static List<List<Tensor>> run(int stage) {
    return LocalRanks.run(
        2,
        Duration.ofSeconds(60),
        comm -> {
          UnitChain model = UnitChain.create(SEED);
          List<NamedParameter> named = model.named();
          ZeroRuntime zero =
              stage == 3
                  ? new Stage3Optimizer(
                      named, model.units, options(Precision.FP32), comm, new CpuAdam(1))
                  : new ZeroOptimizer(
                      named,
                      new ZeroOptimizer.Options(
                          0, Precision.FP32, Precision.FP32, 100, 100, true, true, true, true),
                      comm,
                      new CpuAdam(1));
          Tensor w = model.layers.get(1).weight();
          for (int step = 1; step <= 4; step++) {
            if (step == 3) {
              if (zero instanceof Stage3Optimizer s) {
                try (GatheredParameters g = s.gathered(List.of(w), -1);
                    NoGradGuard ng = new NoGradGuard()) {
                  w.mul_(new Scalar(7.0)); // no modifier: discarded on every rank
                }
                try (GatheredParameters g = s.gathered(List.of(w), 1);
                    NoGradGuard ng = new NoGradGuard()) {
                  w.mul_(new Scalar(comm.rank() == 1 ? 0.5 : 3.0)); // rank 1's edit wins
                }
              } else {
                try (NoGradGuard ng = new NoGradGuard()) {
                  w.mul_(new Scalar(0.5));
                }
              }
            }
            Tensor[] b = UnitChain.batch(SEED, step, 8);
            Tensor x = b[0].narrow(0, 4L * comm.rank(), 4);
            Tensor y = b[1].narrow(0, 4L * comm.rank(), 4);
            zero.beforeBackward();
            model.loss(x, y).backward();
            zero.afterBackward();
            zero.step(HP, step, 1.0, 0.0);
          }
          List<Tensor> out = new ArrayList<>();
          if (zero instanceof Stage3Optimizer s) {
            out.addAll(s.fullParameters());
          } else {
            for (NamedParameter p : named) {
              out.add(p.tensor().detach().clone());
            }
          }
          zero.close();
          return out;
        });
  }
}
