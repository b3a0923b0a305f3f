package org.zero4j.zero.stage3;

import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.zero.comm.Collectives;
import org.zero4j.zero.comm.EngineOwned;
import org.zero4j.zero.comm.Pending;

/**
 * Stage 3's collectives on units, each checked against divergence between ranks.
 *
 * <p>Note [divergence check]: a rank that runs a unit the others skip would otherwise all-gather or
 * reduce-scatter a buffer against a different unit on its peers: silently wrong values when the
 * sizes agree, a hang or a transport error when they do not. Every unit collective is therefore
 * preceded by an all-gather of a three-long header (unit index, optimizer step, kind of collective)
 * from every rank, issued just before the data collective and checked when the collective is
 * awaited, before its data is used: a mismatch fails on every rank with both units named, and a
 * peer that never arrives fails the header's wait within the group's timeout, naming the unit and
 * the step. Issuing the header asynchronously keeps it off the critical path (a blocking check per
 * unit made the ranks meet at every gather and cost more than the gathers; measured with
 * StepBench). The header costs one small collective (24 bytes per rank) per unit collective.
 *
 * <p>After a divergence the data collective may never complete; its buffers are then left to the
 * collective (see {@link UnitParams#close()}), never freed under it.
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

  /** A unit collective in flight, with its header (null at world size 1). */
  static final class Op {
    private final UnitParams unit;
    private final Kind kind;
    private final long step;
    private final Tensor headerIn;
    private final Tensor headerOut;
    private final Pending header;
    private Pending data;

    private Op(
        UnitParams unit, Kind kind, long step, Tensor headerIn, Tensor headerOut, Pending header) {
      this.unit = unit;
      this.kind = kind;
      this.step = step;
      this.headerIn = headerIn;
      this.headerOut = headerOut;
      this.header = header;
    }
  }

  private final Collectives comm;
  private final List<String> unitNames;
  private final boolean allReduceFetch;
  private long step;

  UnitCollectives(Collectives comm, List<String> unitNames, boolean allReduceFetch) {
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
  Op gather(UnitParams unit) {
    Op op = header(unit, Kind.GATHER);
    Tensor out = unit.full().tensor();
    try {
      if (allReduceFetch) {
        // stage3_use_all_reduce_for_fetch_params: each rank contributes its chunk in place of
        // zeros and the sum is the full buffer.
        out.zero_();
        try (Tensor mine = out.narrow(0, comm.rank() * unit.chunk(), unit.chunk())) {
          mine.copy_(unit.shard());
        }
        op.data = comm.allReduce(out);
      } else {
        op.data = comm.allGather(out, unit.shard());
      }
      return op;
    } catch (RuntimeException e) {
      throw failed(op, e);
    }
  }

  /** Starts reduce-scattering {@code staging} (scratch) into {@code out} for {@code unit}. */
  Op reduceScatter(UnitParams unit, Tensor out, Tensor staging) {
    Op op = header(unit, Kind.REDUCE);
    try {
      op.data = comm.reduceScatterInPlace(out, staging);
      return op;
    } catch (RuntimeException e) {
      throw failed(op, e);
    }
  }

  /**
   * Waits for a unit collective: first its header, failing with {@link RankDivergenceException}
   * when the ranks disagree, then its data, naming the unit and the step if either fails.
   */
  void await(Op op) {
    if (op.header != null) {
      try {
        op.header.await();
      } catch (RuntimeException e) {
        throw failed(op, e);
      }
      try {
        verify(op);
      } finally {
        op.headerIn.close();
        op.headerOut.close();
      }
    }
    try {
      op.data.await();
    } catch (RuntimeException e) {
      throw failed(op, e);
    }
  }

  private Op header(UnitParams unit, Kind kind) {
    int world = comm.worldSize();
    if (world == 1) {
      return new Op(unit, kind, step, null, null, null);
    }
    long[] mine = {unit.index(), step, kind.ordinal()};
    Tensor in;
    Tensor all;
    try (TensorOptions longs = new TensorOptions(torch.ScalarType.Long)) {
      // closed by await, possibly after the caller's scope (EngineOwned); allocated as int64
      // directly, with no fp32 temporary left to the garbage collector
      in = EngineOwned.take(torch.tensor(mine, longs));
      all = EngineOwned.take(torch.zeros(new long[] {3L * world}, longs));
    }
    Op op = new Op(unit, kind, step, in, all, null);
    try {
      return new Op(unit, kind, step, in, all, comm.allGather(all, in));
    } catch (RuntimeException e) {
      throw failed(op, e);
    }
  }

  private void verify(Op op) {
    int world = comm.worldSize();
    long[] seen = new long[3 * world];
    try (Tensor c = op.headerOut.contiguous()) {
      c.data_ptr_long().get(seen);
    }
    for (int r = 0; r < world; r++) {
      long u = seen[3 * r];
      long s = seen[3 * r + 1];
      long k = seen[3 * r + 2];
      if (u != op.unit.index() || s != op.step || k != op.kind.ordinal()) {
        throw new RankDivergenceException(
            "ZeRO stage 3 ranks diverged at step "
                + op.step
                + ": rank "
                + comm.rank()
                + " is at the "
                + op.kind.what
                + " of unit '"
                + op.unit.name()
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

  private String nameOf(long index) {
    return index >= 0 && index < unitNames.size() ? unitNames.get((int) index) : "#" + index;
  }

  private RuntimeException failed(Op op, RuntimeException e) {
    if (e instanceof RankDivergenceException) {
      return e;
    }
    return new IllegalStateException(
        "rank "
            + comm.rank()
            + " failed in the "
            + op.kind.what
            + " of unit '"
            + op.unit.name()
            + "' at step "
            + op.step
            + " ("
            + e.getMessage()
            + "); a peer rank may have stopped or skipped this unit",
        e);
  }
}
