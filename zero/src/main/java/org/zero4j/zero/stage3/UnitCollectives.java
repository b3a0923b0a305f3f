package org.zero4j.zero.stage3;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.zero.comm.Collectives;
import org.zero4j.zero.comm.Pending;

/**
 * Stage 3's collectives on units, each checked against divergence between ranks.
 *
 * <p>Note [divergence check]: a rank that runs a unit the others skip would otherwise all-gather or
 * reduce-scatter a buffer against a different unit on its peers: silently wrong values when the
 * sizes agree, a hang or a native failure when they do not. Before each unit collective every rank
 * all-gathers a three-long header (unit index, optimizer step, kind of collective) and compares: a
 * mismatch fails on every rank with both units named, before the data collective is issued, and a
 * peer that never arrives fails the header's wait within the group's timeout, again naming the unit
 * and the step. The header costs one small collective (about 24 bytes per rank) per unit
 * collective.
 */
final class UnitCollectives {

  /** What a unit collective does, for the header and for messages. */
  enum Kind {
    GATHER("all-gather of the parameters"),
    REDUCE("reduce-scatter of the gradients");

    final String what;

    Kind(String what) {
      this.what = what;
    }
  }

  private final Collectives comm;
  private final java.util.List<String> unitNames;
  private final boolean allReduceFetch;
  private long step;

  UnitCollectives(Collectives comm, java.util.List<String> unitNames, boolean allReduceFetch) {
    this.comm = comm;
    this.unitNames = unitNames;
    this.allReduceFetch = allReduceFetch;
  }

  Collectives comm() {
    return comm;
  }

  /** The optimizer step the next collectives belong to (for checks and messages). */
  void step(long step) {
    this.step = step;
  }

  long step() {
    return step;
  }

  /** Starts gathering {@code unit}'s full buffer from every rank's shard. */
  Pending gather(UnitParams unit) {
    check(unit, Kind.GATHER);
    Tensor out = unit.full().tensor();
    try {
      if (allReduceFetch) {
        // stage3_use_all_reduce_for_fetch_params: each rank contributes its chunk in place of
        // zeros and the sum is the full buffer.
        out.zero_();
        try (Tensor mine = out.narrow(0, comm.rank() * unit.chunk(), unit.chunk())) {
          mine.copy_(unit.shard());
        }
        return comm.allReduce(out);
      }
      return comm.allGather(out, unit.shard());
    } catch (RuntimeException e) {
      throw failed(unit, Kind.GATHER, e);
    }
  }

  /** Starts reduce-scattering {@code staging} (scratch) into {@code out} for {@code unit}. */
  Pending reduceScatter(UnitParams unit, Tensor out, Tensor staging) {
    check(unit, Kind.REDUCE);
    try {
      return comm.reduceScatterInPlace(out, staging);
    } catch (RuntimeException e) {
      throw failed(unit, Kind.REDUCE, e);
    }
  }

  /** Waits for a unit collective, naming the unit and the step if it fails. */
  void await(UnitParams unit, Kind kind, Pending p) {
    try {
      p.await();
    } catch (RuntimeException e) {
      throw failed(unit, kind, e);
    }
  }

  private void check(UnitParams unit, Kind kind) {
    int world = comm.worldSize();
    if (world == 1) {
      return;
    }
    long[] mine = {unit.index(), step, kind.ordinal()};
    try (Tensor in = torch.tensor(mine, new TensorOptions(torch.ScalarType.Long));
        Tensor all = torch.empty(3L * world).to(torch.ScalarType.Long)) {
      try {
        comm.allGather(all, in).await();
      } catch (RuntimeException e) {
        throw failed(unit, kind, e);
      }
      long[] seen = new long[3 * world];
      all.contiguous().data_ptr_long().get(seen);
      for (int r = 0; r < world; r++) {
        long u = seen[3 * r];
        long s = seen[3 * r + 1];
        long k = seen[3 * r + 2];
        if (u != unit.index() || s != step || k != kind.ordinal()) {
          throw new RankDivergenceException(
              "ZeRO stage 3 ranks diverged at step "
                  + step
                  + ": rank "
                  + comm.rank()
                  + " is at the "
                  + kind.what
                  + " of unit '"
                  + unit.name()
                  + "' but rank "
                  + r
                  + " is at the "
                  + Kind.values()[(int) k].what
                  + " of unit '"
                  + nameOf(u)
                  + "' (step "
                  + s
                  + "); every rank must run the same sharding units in the same order in"
                  + " forward and backward (check data-dependent branches that skip a unit on"
                  + " some ranks)");
        }
      }
    }
  }

  private String nameOf(long index) {
    return index >= 0 && index < unitNames.size() ? unitNames.get((int) index) : "#" + index;
  }

  private RuntimeException failed(UnitParams unit, Kind kind, RuntimeException e) {
    if (e instanceof RankDivergenceException) {
      return e;
    }
    return new IllegalStateException(
        "rank "
            + comm.rank()
            + " failed in the "
            + kind.what
            + " of unit '"
            + unit.name()
            + "' at step "
            + step
            + " ("
            + e.getMessage()
            + "); a peer rank may have stopped or skipped this unit",
        e);
  }
}
