package org.zero4j.engine.checkpoint;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.StringTensorDict;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.zero.NamedParameter;

/**
 * A two-layer MLP whose hidden bias has 53 elements, so shards and buckets cut parameters at odd
 * places and every world size pads.
 */
final class OddMlp extends Module {
  static final int IN = 13;
  static final int HIDDEN = 53;
  static final int OUT = 5;

  final LinearImpl l1;
  final LinearImpl l2;

  private OddMlp() {
    l1 = register_module("l1", new LinearImpl(IN, HIDDEN));
    l2 = register_module("l2", new LinearImpl(HIDDEN, OUT));
  }

  /** Builds the model; libtorch's generator is global, so construction is serialised. */
  static OddMlp create(long seed) {
    synchronized (RngState.lock()) { // a load on another rank thread restores the generator
      torch.manual_seed(seed);
      return new OddMlp();
    }
  }

  Tensor loss(Tensor x, Tensor y) {
    return torch.mse_loss(l2.forward(torch.tanh(l1.forward(x))), y);
  }

  List<NamedParameter> named() {
    List<NamedParameter> out = new ArrayList<>();
    StringTensorDict d = named_parameters();
    for (long i = 0; i < d.size(); i++) {
      out.add(new NamedParameter(d.get(i).key().getString(), new Tensor(d.get(i).value())));
    }
    return out;
  }

  /** Detached copies of the parameters, in registration order. */
  List<Tensor> snapshot() {
    List<Tensor> out = new ArrayList<>();
    for (NamedParameter p : named()) {
      out.add(p.tensor().detach().clone());
    }
    return out;
  }

  /** Global batch {@code step} of {@code rows} rows: inputs and targets, fixed by the seed. */
  static Tensor[] batch(long seed, long step, int rows) {
    synchronized (RngState.lock()) {
      torch.manual_seed(seed * 1000 + step);
      return new Tensor[] {torch.randn(rows, IN), torch.randn(rows, OUT)};
    }
  }
}
