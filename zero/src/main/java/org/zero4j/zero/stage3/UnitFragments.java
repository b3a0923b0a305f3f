package org.zero4j.zero.stage3;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.PartitionedState.Block;
import org.zero4j.zero.StateFragment;

/**
 * The checkpoint view of stage 3's shards: which parameter elements each rank's state holds, in the
 * terms of {@link org.zero4j.zero.PartitionedState}.
 *
 * <p>Note [checkpoint view of stage 3]: rank r holds chunk r of every unit's flat buffer, and its
 * state tensors are those chunks back to back ({@link UnitLayout}). The fragments below cut each
 * chunk at parameter boundaries; the padding at a unit's end belongs to no fragment.
 */
final class UnitFragments {

  private final List<NamedParameter> params;
  private final UnitLayout layout;
  private final int world;

  UnitFragments(List<NamedParameter> params, UnitLayout layout, int world) {
    this.params = params;
    this.layout = layout;
    this.world = world;
  }

  /** The full shape of parameter {@code param} (registration index). */
  long[] shape(int param) {
    long id = UnitAssignment.identity(params.get(param).tensor());
    for (UnitParams u : layout.units()) {
      for (int i = 0; i < u.params().size(); i++) {
        if (UnitAssignment.identity(u.params().get(i).tensor()) == id) {
          return u.shape(i);
        }
      }
    }
    throw new IllegalStateException("parameter " + param + " belongs to no sharding unit");
  }

  /** The fragments rank {@code rank} holds state for, in state order. */
  List<StateFragment> saved(int rank) {
    if (rank < 0 || rank >= world) {
      throw new IllegalArgumentException(
          "rank " + rank + " is not a rank of this group of " + world);
    }
    Map<Long, Integer> index = registrationIndex();
    List<StateFragment> out = new ArrayList<>();
    for (UnitParams u : layout.units()) {
      long lo = rank * u.chunk();
      long hi = lo + u.chunk();
      for (int i = 0; i < u.params().size(); i++) {
        long off = u.offset(i);
        long from = Math.max(lo, off);
        long to = Math.min(hi, off + u.paramNumel(i));
        if (from < to) {
          int param = index.get(UnitAssignment.identity(u.params().get(i).tensor()));
          out.add(new StateFragment(param, from - off, to - from, layout.offset(u) + from - lo));
        }
      }
    }
    return out;
  }

  /** Registration indices of the parameters in unit order (the order units are streamed in). */
  List<Integer> streamOrder() {
    Map<Long, Integer> index = registrationIndex();
    List<Integer> out = new ArrayList<>();
    for (UnitParams u : layout.units()) {
      for (NamedParameter p : u.params()) {
        out.add(index.get(UnitAssignment.identity(p.tensor())));
      }
    }
    return out;
  }

  /** One block per unit, in state order. */
  List<Block> blocks() {
    List<Block> out = new ArrayList<>();
    long start = 0;
    for (UnitParams u : layout.units()) {
      out.add(new Block(u.name(), start, u.numel(), u.paddedNumel()));
      start += u.paddedNumel();
    }
    return out;
  }

  /** Registration index by parameter identity. */
  Map<Long, Integer> registrationIndex() {
    Map<Long, Integer> index = new HashMap<>();
    for (int i = 0; i < params.size(); i++) {
      index.put(UnitAssignment.identity(params.get(i).tensor()), i);
    }
    return index;
  }
}
