package org.zero4j.zero;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.StringTensorDict;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/** A two-layer MLP with odd sizes, built identically for a given seed on any thread. */
public final class TinyMlp extends Module {
  public static final int IN = 13;
  public static final int HIDDEN = 17;
  public static final int OUT = 5;

  public final LinearImpl l1;
  public final LinearImpl l2;

  private TinyMlp() {
    l1 = register_module("l1", new LinearImpl(IN, HIDDEN));
    l2 = register_module("l2", new LinearImpl(HIDDEN, OUT));
  }

  /** Builds the model; libtorch's generator is global, so construction is serialised. */
  public static synchronized TinyMlp create(long seed) {
    torch.manual_seed(seed);
    return new TinyMlp();
  }

  public Tensor forward(Tensor x) {
    return l2.forward(torch.tanh(l1.forward(x)));
  }

  public Tensor loss(Tensor x, Tensor y) {
    return torch.mse_loss(forward(x), y);
  }

  public List<NamedParameter> named() {
    List<NamedParameter> out = new ArrayList<>();
    StringTensorDict d = named_parameters();
    for (long i = 0; i < d.size(); i++) {
      out.add(new NamedParameter(d.get(i).key().getString(), new Tensor(d.get(i).value())));
    }
    return out;
  }

  /** Global batch {@code step} of {@code rows} rows: inputs and targets, fixed by the seed. */
  public static synchronized Tensor[] batch(long seed, int step, int rows) {
    torch.manual_seed(seed * 1000 + step);
    return new Tensor[] {torch.randn(rows, IN), torch.randn(rows, OUT)};
  }
}
