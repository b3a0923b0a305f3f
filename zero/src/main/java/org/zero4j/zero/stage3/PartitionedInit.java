package org.zero4j.zero.stage3;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.Precision;
import org.zero4j.zero.comm.Collectives;

/**
 * Construction without materialising the model (DeepSpeed's {@code zero.Init}): the model is built
 * unit by unit, and each unit is partitioned as soon as it exists, so a rank holds its shards of
 * the units built so far plus one whole unit, never the whole model.
 *
 * <pre>{@code
 * PartitionedInit init = new PartitionedInit(comm, Precision.BF16);
 * for (int i = 0; i < layers; i++) {
 *   Block b = new Block(config);                         // one unit, whole
 *   units.add(init.partition(ShardedUnit.of("h." + i, b, b::forward))); // now 1/N of it
 * }
 * }</pre>
 *
 * <p>Every rank builds every unit with the same seed, so the values are exactly those of building
 * the whole model and partitioning it; the unit's parameters must be initialised when {@link
 * #partition} is called (libtorch modules initialise in their constructors). A {@link
 * Stage3Optimizer} (or a stage-3 engine) on the same group and precision adopts the shards as they
 * are. Parameters outside every unit are not partitioned here: the optimizer places them in the
 * persistent root unit.
 */
public final class PartitionedInit {

  private final Collectives comm;
  private final Precision precision;
  private long shardBytes;

  /** Partitions for this rank of {@code comm}, converting parameters to {@code precision}. */
  public PartitionedInit(Collectives comm, Precision precision) {
    this.comm = comm;
    this.precision = precision;
  }

  /**
   * Converts the unit's trainable parameters to the working precision, keeps this rank's chunk and
   * releases the whole tensors. Returns {@code unit}.
   */
  public ShardedUnit partition(ShardedUnit unit) {
    List<NamedParameter> params = new ArrayList<>();
    int i = 0;
    for (Tensor t : unit.parameters()) {
      if (!t.requires_grad()) {
        continue;
      }
      if (t.scalar_type().value != precision.scalarType().value) {
        try (Tensor d = t.detach();
            Tensor converted = d.to(precision.scalarType())) {
          t.set_data(converted); // closed handles: the fp32 storage goes now, not at a GC
        }
      }
      params.add(new NamedParameter(unit.name() + "#" + i++, t));
    }
    UnitParams p =
        new UnitParams(-1, unit.name(), params, comm.worldSize(), comm.rank(), precision);
    unit.partitioned(p);
    shardBytes += p.shard().nbytes();
    return unit;
  }

  /** Bytes of the shards made so far on this rank. */
  public long shardBytes() {
    return shardBytes;
  }
}
