package org.zero4j.zero;

import java.util.ArrayList;
import java.util.List;
import java.util.function.LongToDoubleFunction;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.AdamOptions;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.kernels.adam.AdamHyperparams;

/**
 * The independent reference for parity tests: {@link TinyMlp} trained in one process on the full
 * global batch with libtorch's own {@code torch::optim::Adam} or {@code AdamW}, optionally with
 * {@code torch::nn::utils::clip_grad_norm_} and a per-step learning rate.
 */
public final class TorchReference {

  /** Gradient norms seen by the reference before clipping, one per step. */
  public static final ThreadLocal<List<Double>> NORMS = ThreadLocal.withInitial(ArrayList::new);

  private TorchReference() {}

  /**
   * Trains for {@code steps} steps (batches 1..steps of {@link TinyMlp#batch}) and returns clones
   * of the final parameters in registration order.
   */
  public static List<Tensor> train(
      AdamHyperparams hp, int steps, int rows, long seed, double clip, LongToDoubleFunction lr) {
    TinyMlp model = TinyMlp.create(seed);
    TensorVector params = model.parameters();
    Optimizer opt = optimizer(params, hp);
    NORMS.get().clear();
    for (int step = 1; step <= steps; step++) {
      Tensor[] b = TinyMlp.batch(seed, step, rows);
      opt.zero_grad();
      model.loss(b[0], b[1]).backward();
      if (clip > 0) {
        NORMS.get().add(torch.clip_grad_norm_(params, clip));
      }
      opt.param_groups().get(0).options().set_lr(lr.applyAsDouble(step - 1));
      opt.step();
    }
    List<Tensor> out = new ArrayList<>();
    for (NamedParameter p : model.named()) {
      out.add(p.tensor().detach().clone());
    }
    return out;
  }

  private static Optimizer optimizer(TensorVector params, AdamHyperparams hp) {
    // Note [tuple layout]: libstdc++ stores std::tuple<double, double> last element first, so raw
    // index 0 of betas() is beta2 and index 1 is beta1.
    if (hp.adamWMode()) {
      AdamWOptions o = new AdamWOptions(hp.lr());
      o.betas().put(0, hp.beta2()).put(1, hp.beta1());
      o.eps().put(hp.eps());
      o.weight_decay().put(hp.weightDecay());
      return new AdamW(params, o);
    }
    AdamOptions o = new AdamOptions(hp.lr());
    o.betas().put(0, hp.beta2()).put(1, hp.beta1());
    o.eps().put(hp.eps());
    o.weight_decay().put(hp.weightDecay());
    return new Adam(params, o);
  }

  /** Largest absolute element difference between two parameter lists. */
  public static double maxAbsDiff(List<Tensor> a, List<Tensor> b) {
    double max = 0;
    for (int i = 0; i < a.size(); i++) {
      Tensor x = a.get(i).to(torch.ScalarType.Double);
      Tensor y = b.get(i).to(torch.ScalarType.Double);
      max = Math.max(max, x.sub(y).abs().max().item_double());
    }
    return max;
  }
}
