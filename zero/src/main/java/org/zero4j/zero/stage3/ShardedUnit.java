package org.zero4j.zero.stage3;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.UnaryOperator;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;

/**
 * A sharding unit: parameters that ZeRO stage 3 gathers before, and frees after, one piece of the
 * forward pass (typically one transformer block), in the spirit of FSDP2's {@code
 * fully_shard(block)}.
 *
 * <p>bytedeco modules have no forward hooks, so the model calls its unit instead of the module:
 *
 * <pre>{@code
 * ShardedUnit unit = ShardedUnit.of("h.0", block, block::forward);
 * ...
 * x = unit.forward(x); // gathers, runs block.forward(x), releases; backward re-gathers
 * }</pre>
 *
 * <p>Outside a stage-3 engine (stages 0-2, or no engine) {@link #forward} just runs the body. The
 * body maps one tensor to one tensor; its result must be what later computation uses, because the
 * hook that re-gathers the unit for backward sits on it. Every rank must call the same units in the
 * same order.
 */
public final class ShardedUnit {

  private final String name;
  private final List<Tensor> parameters;
  private final UnaryOperator<Tensor> body;
  private UnitLifecycle lifecycle;
  private int index = -1;
  private UnitParams partitioned;

  /**
   * A unit over explicit parameters.
   *
   * @param name the unit's name in errors and reports, e.g. {@code h.3}
   * @param parameters the tensors gathered and freed together (trainable parameters of the model)
   * @param body the computation that uses them
   */
  public ShardedUnit(String name, List<Tensor> parameters, UnaryOperator<Tensor> body) {
    this.name = Objects.requireNonNull(name);
    this.parameters = List.copyOf(parameters);
    this.body = Objects.requireNonNull(body);
    if (this.parameters.isEmpty()) {
      throw new IllegalArgumentException(
          "sharding unit '" + name + "' has no parameters; leave it out of the units");
    }
  }

  /** A unit over every parameter of {@code module} (recursively). */
  public static ShardedUnit of(String name, Module module, UnaryOperator<Tensor> body) {
    return new ShardedUnit(name, parametersOf(module), body);
  }

  /** The parameters of {@code modules}, in registration order. */
  public static List<Tensor> parametersOf(Module... modules) {
    List<Tensor> out = new ArrayList<>();
    for (Module m : modules) {
      try (TensorVector v = m.parameters(true)) {
        for (long i = 0; i < v.size(); i++) {
          out.add(new Tensor(v.get(i))); // a handle of our own: get() refers into the vector
        }
      }
    }
    return out;
  }

  /** Runs the body; under a stage-3 engine, between the gather and the release of the unit. */
  public Tensor forward(Tensor input) {
    if (lifecycle == null) {
      return body.apply(input);
    }
    return lifecycle.run(index, input, body);
  }

  /** The unit's name. */
  public String name() {
    return name;
  }

  /** The unit's parameters. */
  public List<Tensor> parameters() {
    return parameters;
  }

  /** The shard made by {@link PartitionedInit}, or null when the parameters are still whole. */
  UnitParams partitioned() {
    return partitioned;
  }

  void partitioned(UnitParams p) {
    if (partitioned != null) {
      throw new IllegalStateException("sharding unit '" + name + "' is already partitioned");
    }
    this.partitioned = p;
  }

  void attach(UnitLifecycle l, int unitIndex) {
    if (lifecycle != null) {
      throw new IllegalStateException(
          "sharding unit '" + name + "' is already managed by another ZeRO stage-3 optimizer");
    }
    this.lifecycle = l;
    this.index = unitIndex;
  }

  void detach() {
    this.lifecycle = null;
    this.index = -1;
  }
}
