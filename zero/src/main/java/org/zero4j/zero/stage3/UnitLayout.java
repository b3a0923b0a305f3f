package org.zero4j.zero.stage3;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.Stage3Config;

/**
 * The sharding units of one stage-3 optimizer and where each unit's chunk sits in this rank's flat
 * shard: rank r holds chunk r of every unit's flat buffer, and its optimizer state and shard
 * gradient are those chunks back to back, in unit order (the root unit last).
 */
final class UnitLayout {

  /** One unit's part of a range of the flat shard. */
  interface UnitPiece {
    void accept(UnitParams u, long unitOffset, long numel);
  }

  private final List<UnitParams> units;
  private final long[] offsets;
  private final long numel;

  private UnitLayout(List<UnitParams> units) {
    this.units = units;
    this.offsets = new long[units.size()];
    long offset = 0;
    for (UnitParams u : units) {
      offsets[u.index()] = offset;
      offset += u.chunk();
    }
    this.numel = offset;
  }

  /**
   * Shards {@code params} by {@code userUnits} (adopting units already partitioned by {@link
   * PartitionedInit}), the parameters outside every unit forming a last unit named {@code root},
   * and marks the persistent units.
   */
  static UnitLayout partition(
      List<NamedParameter> params,
      List<ShardedUnit> userUnits,
      Stage3Options options,
      int world,
      int rank) {
    List<List<NamedParameter>> groups = UnitAssignment.assign(params, userUnits);
    List<UnitParams> units = new ArrayList<>();
    for (int i = 0; i < groups.size(); i++) {
      UnitParams pre = i < userUnits.size() ? userUnits.get(i).partitioned() : null;
      String name = i < userUnits.size() ? userUnits.get(i).name() : "root";
      units.add(
          pre != null
              ? pre.adopt(i, groups.get(i), world, rank, options.working())
              : new UnitParams(i, name, groups.get(i), world, rank, options.working()));
    }
    markPersistent(units, options.stage3(), groups.size() > userUnits.size());
    return new UnitLayout(List.copyOf(units));
  }

  // stage3_param_persistence_threshold applies to whole units here: zero4j gathers and frees by
  // unit, so a unit under the threshold stays gathered, within stage3_model_persistence_threshold
  // elements in all. The root unit always persists.
  private static void markPersistent(List<UnitParams> units, Stage3Config c, boolean hasRoot) {
    long total = 0;
    for (UnitParams u : units) {
      boolean root = hasRoot && u.index() == units.size() - 1;
      if (root
          || (u.numel() < c.paramPersistenceThreshold()
              && total + u.numel() <= c.modelPersistenceThreshold())) {
        u.markPersistent();
        total += u.numel();
      }
    }
  }

  List<UnitParams> units() {
    return units;
  }

  /** Names of the units in shard order. */
  List<String> names() {
    List<String> out = new ArrayList<>();
    for (UnitParams u : units) {
      out.add(u.name());
    }
    return out;
  }

  /** Where {@code u}'s chunk starts in the flat shard. */
  long offset(UnitParams u) {
    return offsets[u.index()];
  }

  /** Every unit's offset, by unit index. */
  long[] offsets() {
    return offsets;
  }

  /** Elements of the flat shard (the sum of every unit's chunk). */
  long numel() {
    return numel;
  }

  /** Calls {@code piece} for each unit's part of shard range {@code [from, from + n)}. */
  void forEachUnit(long from, long n, UnitPiece piece) {
    long end = from + n;
    for (UnitParams u : units) {
      long lo = Math.max(from, offsets[u.index()]);
      long hi = Math.min(end, offsets[u.index()] + u.chunk());
      if (lo < hi) {
        piece.accept(u, lo - offsets[u.index()], hi - lo);
      }
    }
  }

  /** Copies shard elements {@code [from, from + dst.numel())} from the units' own chunks. */
  void copyShards(long from, Tensor dst) {
    forEachUnit(
        from,
        dst.numel(),
        (u, unitOff, len) -> {
          try (Tensor d = dst.narrow(0, unitOff + offsets[u.index()] - from, len);
              Tensor src = u.shard().narrow(0, unitOff, len)) {
            d.copy_(src);
          }
        });
  }
}
