package org.zero4j.zero.stage3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.Precision;
import org.zero4j.zero.Stage3Config;
import org.zero4j.zero.TorchReference;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Stage 3 at world sizes 1, 2 and 4, fp32 and bf16, 10 AdamW steps of {@link UnitChain} (five units
 * of odd sizes and a root unit), against stage 0 at the same world size and against single-process
 * libtorch AdamW on the full batch.
 *
 * <p>Tolerances. fp32: 1e-5 max abs against libtorch, as in {@code ZeroParityTest} (sums over ranks
 * of per-rank means, the fused kernel's fp32 constants); against stage 0 the same reductions run in
 * the same order, so the results are expected bit-identical. bf16: 0.03 against fp32 libtorch, as
 * in {@code EngineTrainingTest.sixteenBitTracksFp32} (bf16 forward/backward, 8-bit mantissa);
 * against bf16 stage 0 the same bf16 gradients are summed in the same order, again bit-identical.
 */
class Stage3ParityTest {

  private static final int STEPS = 10;
  private static final int ROWS = 12;
  private static final long SEED = 7;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  @ParameterizedTest(name = "world {0}, {1}, prefetch {2}, reuse {3}")
  @CsvSource({
    "1, FP32, 0, 0",
    "2, FP32, 1000, 0",
    "4, FP32, 300, 1000000000",
    "1, BF16, 1000, 1000000000",
    "2, BF16, 0, 1000000000",
    "4, BF16, 1000, 0"
  })
  void matchesStageZeroAndLibtorch(int world, Precision precision, long prefetch, long reuse) {
    Stage3Config s3 =
        new Stage3Config(
            prefetch, 0, Long.MAX_VALUE, 1_000_000_000L, reuse, false, 0, false, false);
    List<Tensor> reference = libtorch();
    List<Tensor> stage3 = train(world, precision, 3, s3).get(0);
    List<List<Tensor>> stage0 = train(world, precision, 0, s3);
    double tol = precision == Precision.FP32 ? 1e-5 : 0.03;
    double vsTorch = TorchReference.maxAbsDiff(stage3, reference);
    assertTrue(vsTorch <= tol, "stage 3 differs from libtorch AdamW by " + vsTorch);
    double vsStage0 = TorchReference.maxAbsDiff(stage3, stage0.get(0));
    assertTrue(
        vsStage0 <= (precision == Precision.FP32 ? 1e-5 : 0.01),
        "stage 3 differs from stage 0 by " + vsStage0);
    if (precision == Precision.BF16) {
      assertTrue(vsTorch > 0, "bf16 must actually differ from the fp32 reference");
    }
  }

  /** Trains on every rank and returns each rank's full parameters at the end. */
  static List<List<Tensor>> train(int world, Precision precision, int stage, Stage3Config s3) {
    List<List<Tensor>> out =
        LocalRanks.run(
            world,
            Duration.ofSeconds(60),
            comm -> {
              ChainTraining t =
                  new ChainTraining(comm, SEED, stage, precision, precision, true, s3);
              int local = ROWS / world;
              for (int step = 1; step <= STEPS; step++) {
                Tensor[] b = UnitChain.batch(SEED, step, ROWS);
                t.backward(
                    b[0].narrow(0, (long) comm.rank() * local, local),
                    b[1].narrow(0, (long) comm.rank() * local, local));
                t.step(step, 1.0);
              }
              return t.finish();
            });
    for (int r = 1; r < world; r++) {
      assertEquals(0.0, TorchReference.maxAbsDiff(out.get(r), out.get(0)), "rank " + r);
    }
    return out;
  }

  private static List<Tensor> libtorch() {
    UnitChain model = UnitChain.create(SEED);
    AdamHyperparams hp = ChainTraining.HP;
    AdamWOptions o = new AdamWOptions(hp.lr());
    o.betas().put(0, hp.beta2()).put(1, hp.beta1()); // libstdc++ tuple layout, see TorchReference
    o.eps().put(hp.eps());
    o.weight_decay().put(hp.weightDecay());
    AdamW opt = new AdamW(model.parameters(), o);
    for (int step = 1; step <= STEPS; step++) {
      Tensor[] b = UnitChain.batch(SEED, step, ROWS);
      opt.zero_grad();
      model.loss(b[0], b[1]).backward();
      opt.step();
    }
    List<Tensor> out = new ArrayList<>();
    for (NamedParameter p : model.named()) {
      out.add(p.tensor().detach().clone());
    }
    return out;
  }
}
