package org.zero4j.zero.stage3;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.zero.comm.Collectives;
import org.zero4j.zero.comm.EngineOwned;
import org.zero4j.zero.comm.Pending;

/**
 * Stage 3's collectives on units, each checked against divergence between ranks.
 *
 * <p>Note [divergence check]: a rank that runs a unit the others skip would otherwise all-gather or
 * reduce-scatter a buffer against a different unit on its peers: silently wrong values when the
 * sizes agree, a hang or a transport error when they do not. Every batch of gathers is therefore
 * preceded by a {@link DivergenceHeader} (reduces are checked once per backward instead: Note
 * [reduce order checked once per backward]): an all-gather of what each rank is about to do (kind
 * of collective, optimizer step, the units in order), issued just before the data collectives and
 * checked when the first of them is awaited, before any data is used. A mismatch fails on every
 * rank with both units named, and a peer that never arrives fails the header's wait within the
 * group's timeout, naming the unit and the step. Issuing the header asynchronously keeps it off the
 * critical path (a blocking check per unit made the ranks meet at every gather and cost more than
 * the gathers; measured with StepBench). The units prefetched together share one header, so a step
 * issues 4 gather headers instead of 12 with prefetch on: each small collective costs 0.1-0.25 ms
 * of CPU in Gloo's threads (both ranks) on loopback, about as much as 100 KB of data.
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
    private final DivergenceHeader header;
    private Pending data;
    private Tensor scratch; // the all-to-all's receive buffer of a reduce, closed when awaited

    private Op(UnitParams unit, Kind kind, long step, DivergenceHeader header) {
      this.unit = unit;
      this.kind = kind;
      this.step = step;
      this.header = header;
    }
  }

  private final Collectives comm;
  private final List<String> unitNames;
  private final boolean allReduceFetch;
  private final List<UnitParams> reduced = new ArrayList<>();
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
    Op[] op = new Op[1];
    gather(List.of(unit), (u, o) -> op[0] = o);
    return op[0];
  }

  /**
   * Starts gathering each unit of {@code batch} (full buffers allocated), in order, under one
   * header per {@link DivergenceHeader#MAX_UNITS} units; {@code started} receives each collective
   * as soon as it is issued.
   */
  void gather(List<UnitParams> batch, BiConsumer<UnitParams, Op> started) {
    for (int from = 0; from < batch.size(); from += DivergenceHeader.MAX_UNITS) {
      List<UnitParams> part =
          batch.subList(from, Math.min(batch.size(), from + DivergenceHeader.MAX_UNITS));
      DivergenceHeader h = header(part, Kind.GATHER);
      for (UnitParams unit : part) {
        Op op = new Op(unit, Kind.GATHER, step, h);
        try {
          op.data = gatherData(unit);
        } catch (RuntimeException e) {
          throw failed(op, e);
        }
        started.accept(unit, op);
      }
    }
  }

  private Pending gatherData(UnitParams unit) {
    Tensor out = unit.full().tensor();
    if (!allReduceFetch) {
      return comm.allGather(out, unit.shard());
    }
    // stage3_use_all_reduce_for_fetch_params: each rank contributes its chunk in place of zeros
    // and the sum is the full buffer.
    out.zero_();
    try (Tensor mine = out.narrow(0, comm.rank() * unit.chunk(), unit.chunk())) {
      mine.copy_(unit.shard());
    }
    return comm.allReduce(out);
  }

  /** Starts reduce-scattering {@code staging} (scratch) into {@code out} for {@code unit}. */
  Op reduceScatter(UnitParams unit, Tensor out, Tensor staging) {
    // Note [reduce order checked once per backward]: a reduce carries no header of its own; the
    // order of this backward's reduces is exchanged once, by checkReduceOrder, after they have
    // completed and before any gradient is used. A header per reduce was a small collective per
    // unit in backward, which cost more than any other part of stage 3's overhead in StepBench.
    // A mismatch whose sizes differ fails in the data collective itself, naming the unit.
    Op op = new Op(unit, Kind.REDUCE, step, null);
    reduced.add(unit);
    try {
      // Note [reduce by all-to-all]: as at stages 1-2 (Collectives.reduceScatterByAllToAll), an
      // all-to-all into a receive buffer moves a reduce-scatter's bytes where Gloo's own
      // reduce-scatter (an all-reduce) moves twice as many; the buffer lives until the reduce is
      // awaited. At world size 1 nothing is exchanged and the staging buffer stands in for it.
      if (comm.worldSize() > 1) {
        op.scratch = EngineOwned.take(torch.empty_like(staging));
      }
      op.data =
          comm.reduceScatterByAllToAll(out, staging, op.scratch != null ? op.scratch : staging);
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
        op.header.check(comm, unitNames);
      } catch (RuntimeException e) {
        throw failed(op, e);
      }
    }
    try {
      op.data.await();
      closeScratch(op);
    } catch (RuntimeException e) {
      throw failed(op, e);
    }
  }

  /**
   * Checks that every rank reduced the same units in the same order in this backward, with one
   * header exchange per {@link DivergenceHeader#MAX_UNITS} reduces; call it once the reduces have
   * completed and before their gradients are used.
   *
   * @throws RankDivergenceException when a rank reduced other units, naming them
   */
  void checkReduceOrder() {
    List<UnitParams> order = new ArrayList<>(reduced);
    reduced.clear();
    if (comm.worldSize() == 1 || order.isEmpty()) {
      return;
    }
    List<Op> checks = new ArrayList<>();
    for (int from = 0; from < order.size(); from += DivergenceHeader.MAX_UNITS) {
      List<UnitParams> part =
          order.subList(from, Math.min(order.size(), from + DivergenceHeader.MAX_UNITS));
      checks.add(new Op(part.get(0), Kind.REDUCE, step, header(part, Kind.REDUCE)));
    }
    for (Op op : checks) {
      try {
        op.header.check(comm, unitNames);
      } catch (RuntimeException e) {
        throw failed(op, e);
      }
    }
  }

  /** Forgets the reduces of a backward that failed (nothing of it is checked or used). */
  void forgetReduces() {
    reduced.clear();
  }

  private static void closeScratch(Op op) {
    if (op.scratch != null) {
      op.scratch.close();
      op.scratch = null;
    }
  }

  private DivergenceHeader header(List<UnitParams> units, Kind kind) {
    if (comm.worldSize() == 1) {
      return null;
    }
    try {
      return DivergenceHeader.issue(comm, kind, step, units);
    } catch (RuntimeException e) {
      throw failed(new Op(units.get(0), kind, step, null), e);
    }
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
