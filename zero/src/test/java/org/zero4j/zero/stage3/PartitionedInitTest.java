package org.zero4j.zero.stage3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.Precision;
import org.zero4j.zero.TorchReference;
import org.zero4j.zero.comm.Collectives;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Construction without materialising: 8 units of 2,352 elements built one at a time at world 4, so
 * the whole model (18,816 elements) is 4x one rank's final share. The parameter storage every rank
 * holds, sampled just before each unit is partitioned, never exceeds its shards so far plus one
 * unit; the values, and 3 training steps from them, equal building the whole model and partitioning
 * it.
 */
class PartitionedInitTest {

  private static final int[] WIDTHS = {48, 48, 48, 48, 48, 48, 48, 48, 48};
  private static final int WORLD = 4;
  private static final AdamHyperparams HP =
      new AdamHyperparams(0.01, 0.9, 0.99, 1e-8, 0.1, true, true);

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  @Test
  void noRankHoldsTheWholeModelAndValuesMatchTheFullBuild() {
    List<Object[]> out =
        LocalRanks.run(
            WORLD,
            Duration.ofSeconds(60),
            comm -> {
              PartitionedInit init = new PartitionedInit(comm, Precision.FP32);
              List<Tensor> built = new ArrayList<>();
              long[] peak = {0};
              UnitChain lazy =
                  UnitChain.create(
                      21,
                      u -> {
                        built.addAll(u.parameters());
                        long held = init.shardBytes();
                        for (Tensor t : built) {
                          held += t.storage().nbytes();
                        }
                        peak[0] = Math.max(peak[0], held);
                        return init.partition(u);
                      },
                      WIDTHS);
              List<Tensor> fromInit = trainAndGather(lazy, comm);
              UnitChain whole = UnitChain.create(21, WIDTHS);
              List<Tensor> initial = new ArrayList<>();
              for (NamedParameter p : Stage3MemoryTest.unitParams(whole)) {
                initial.add(p.tensor().detach().clone());
              }
              List<Tensor> fromWhole = trainAndGather(whole, comm);
              return new Object[] {peak[0], fromInit, fromWhole, initial};
            });
    long unitBytes = (48L * 48 + 48) * 4;
    long modelBytes = 8 * unitBytes;
    long shareBytes = modelBytes / WORLD;
    assertTrue(modelBytes > 3 * shareBytes);
    for (Object[] r : out) {
      long peak = (Long) r[0];
      assertTrue(peak <= shareBytes + unitBytes, "held " + peak + " bytes while building");
      assertTrue(peak < modelBytes, "a rank held the whole model");
      @SuppressWarnings("unchecked")
      List<Tensor> fromInit = (List<Tensor>) r[1];
      @SuppressWarnings("unchecked")
      List<Tensor> fromWhole = (List<Tensor>) r[2];
      assertEquals(0.0, TorchReference.maxAbsDiff(fromInit, fromWhole));
      @SuppressWarnings("unchecked")
      List<Tensor> initial = (List<Tensor>) r[3];
      assertEquals(0.0, TorchReference.maxAbsDiff(fromInit.subList(0, initial.size()), initial));
    }
  }

  /** The initial values after partitioned construction, then 3 steps; returns both, gathered. */
  private static List<Tensor> trainAndGather(UnitChain model, Collectives comm) {
    try (Stage3Optimizer zero =
        new Stage3Optimizer(
            Stage3MemoryTest.unitParams(model),
            model.units,
            Stage3Options.of(Precision.FP32, Stage3MemoryTest.config(1000, 1_000_000_000L)),
            comm,
            new CpuAdam(1))) {
      List<Tensor> out = new ArrayList<>(zero.fullParameters());
      for (int step = 1; step <= 3; step++) {
        Tensor[] b = UnitChain.batch(21, step, 4, WIDTHS);
        zero.beforeBackward();
        model.loss(b[0], b[1]).backward();
        zero.afterBackward();
        zero.step(HP, step, 1.0, 0.0);
      }
      out.addAll(zero.fullParameters());
      return out;
    }
  }
}
