package org.zero4j.zero.stage3;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.Precision;
import org.zero4j.zero.Stage3Config;
import org.zero4j.zero.StepResult;
import org.zero4j.zero.ZeroOptimizer;
import org.zero4j.zero.ZeroRuntime;
import org.zero4j.zero.comm.Collectives;

/**
 * One rank's {@link UnitChain} trained by stage 3 or, as its reference, by stage 0 with the same
 * working and wire precisions and overlap: what {@link Stage3ParityTest} and {@link
 * Stage3GradientReduceTest} both run on every rank.
 */
final class ChainTraining {

  /** The AdamW hyperparameters both tests train with. */
  static final AdamHyperparams HP = new AdamHyperparams(0.01, 0.9, 0.99, 1e-8, 0.1, true, true);

  private final UnitChain model;
  private final List<NamedParameter> named;
  private final Precision working;
  private final ZeroRuntime zero;

  /**
   * Builds the chain from {@code seed} in {@code working} precision and hands it to a stage-3 (with
   * {@code s3}) or stage-0 runtime on {@code comm}.
   */
  ChainTraining(
      Collectives comm,
      long seed,
      int stage,
      Precision working,
      Precision wire,
      boolean overlap,
      Stage3Config s3) {
    this.model = UnitChain.create(seed);
    this.named = model.named();
    this.working = working;
    for (NamedParameter p : named) {
      p.tensor().set_data(p.tensor().detach().to(working.scalarType()));
    }
    this.zero =
        stage == 3
            ? new Stage3Optimizer(
                named,
                model.units,
                new Stage3Options(working, wire, 500, overlap, true, s3),
                comm,
                new CpuAdam(1))
            : new ZeroOptimizer(
                named,
                new ZeroOptimizer.Options(0, working, wire, 100, 100, overlap, true, true, true),
                comm,
                new CpuAdam(1));
  }

  /** One micro-step's forward and backward on the fp32 batch rows {@code x}, {@code y}. */
  void backward(Tensor x, Tensor y) {
    zero.beforeBackward();
    model.loss(x.to(working.scalarType()), y).backward();
    zero.afterBackward();
  }

  /** Steps with gradients carrying {@code lossScale}, which must not overflow. */
  void step(long step, double lossScale) {
    StepResult r = zero.step(HP, step, lossScale, 0.0);
    assertTrue(!r.skipped(), "step " + step + " was skipped");
  }

  /** Closes the runtime and returns the full parameters in fp32 (same on every rank). */
  List<Tensor> finish() {
    List<Tensor> params = new ArrayList<>();
    if (zero instanceof Stage3Optimizer s) {
      for (Tensor t : s.fullParameters()) {
        params.add(t.to(torch.ScalarType.Float));
      }
    } else {
      for (NamedParameter p : named) {
        params.add(p.tensor().detach().to(torch.ScalarType.Float));
      }
    }
    zero.close();
    return params;
  }
}
