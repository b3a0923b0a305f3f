package org.zero4j.zero.stage3;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.StringTensorDict;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.zero.NamedParameter;

/**
 * Five Linear layers of odd widths, each its own sharding unit, and a root-unit parameter {@code
 * scale} used outside every unit: 13 -> 17 -> 11 -> 19 -> 7 -> 5 (unit sizes 238, 198, 228, 140,
 * 40: none a multiple of 4, so every padding path runs at world sizes 2 and 4).
 */
public final class UnitChain extends Module {
  static final int[] WIDTHS = {13, 17, 11, 19, 7, 5};

  final List<LinearImpl> layers = new ArrayList<>();
  final List<ShardedUnit> units = new ArrayList<>();
  final Tensor scale;

  final int[] widths;

  private UnitChain(int[] widths, java.util.function.UnaryOperator<ShardedUnit> onUnit) {
    this.widths = widths.clone();
    for (int i = 0; i + 1 < widths.length; i++) {
      LinearImpl l = register_module("l" + i, new LinearImpl(widths[i], widths[i + 1]));
      layers.add(l);
      boolean last = i + 2 == widths.length;
      units.add(
          onUnit.apply(
              ShardedUnit.of("l" + i, l, x -> last ? l.forward(x) : torch.tanh(l.forward(x)))));
    }
    scale =
        register_parameter(
            "scale",
            torch.rand(widths[widths.length - 1]).add_(new org.bytedeco.pytorch.Scalar(0.5)));
  }

  /** Builds the model; libtorch's generator is global, so construction is serialised. */
  public static synchronized UnitChain create(long seed) {
    return create(seed, WIDTHS);
  }

  /** A chain of the given layer widths. */
  public static synchronized UnitChain create(long seed, int... widths) {
    return create(seed, u -> u, widths);
  }

  /** A chain whose units are passed through {@code onUnit} as soon as each is built. */
  public static synchronized UnitChain create(
      long seed, java.util.function.UnaryOperator<ShardedUnit> onUnit, int... widths) {
    torch.manual_seed(seed);
    return new UnitChain(widths, onUnit);
  }

  public Tensor forward(Tensor x) {
    for (ShardedUnit u : units) {
      x = u.forward(x);
    }
    return x.mul(scale);
  }

  public Tensor loss(Tensor x, Tensor y) {
    return torch.mse_loss(forward(x).to(torch.ScalarType.Float), y.to(torch.ScalarType.Float));
  }

  public List<NamedParameter> named() {
    List<NamedParameter> out = new ArrayList<>();
    StringTensorDict d = named_parameters();
    for (long i = 0; i < d.size(); i++) {
      out.add(new NamedParameter(d.get(i).key().getString(), new Tensor(d.get(i).value())));
    }
    return out;
  }

  /** Global batch {@code step}: inputs and targets, fixed by the seed. */
  public static synchronized Tensor[] batch(long seed, int step, int rows) {
    return batch(seed, step, rows, WIDTHS);
  }

  /** As {@link #batch(long, int, int)} for a chain of the given widths. */
  public static synchronized Tensor[] batch(long seed, int step, int rows, int... widths) {
    torch.manual_seed(seed * 1000 + step);
    return new Tensor[] {
      torch.randn(rows, widths[0]), torch.randn(rows, widths[widths.length - 1])
    };
  }
}
