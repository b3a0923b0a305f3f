package org.zero4j.zero.stage3;

import java.time.Duration;
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
 * <p>Note [agreed order]: a rank that runs a unit the others skip would otherwise all-gather or
 * reduce-scatter a buffer against a different unit on its peers: silently wrong values when the
 * sizes agree, and when they do not, Gloo aborts the process (Note [why a second group] in {@link
 * Collectives#control()}). So no rank issues a unit collective before it knows that every rank
 * issues the same one:
 *
 * <ul>
 *   <li>Each rank records the collectives of an iteration (from one optimizer step to the next) in
 *       an {@link AgreedOrder}. A collective that is the one the previous iteration had at the same
 *       point is issued at once: every rank had the same previous iteration, so a rank that issues
 *       it issues what its peers issue, or else a peer has left the order, which that peer knows.
 *   <li>A rank whose next collective is not the agreed one (the first iteration, a forward without
 *       backward, a skipped unit) first exchanges a {@link DivergenceHeader} on the control group
 *       and waits for it: if every rank left the order at the same point for the same collective,
 *       they go on, and the rest of the iteration is confirmed this way, collective by collective;
 *       its record is then the new agreed order. A rank whose peers describe another collective
 *       fails with {@link RankDivergenceException}, naming both units and the step.
 *   <li>A rank that followed the order while a peer left it waits on a data collective the peer
 *       never issues, until the group's timeout. It then asks the control group, briefly, what its
 *       peers are doing: the peer that left the order is still waiting there with its header (for
 *       twice the timeout), so both fail with the same {@link RankDivergenceException}. A peer that
 *       has stopped does not answer, and the error names this rank's unit and step.
 * </ul>
 *
 * <p>In steady state (every iteration like the last) no header is exchanged at all: a header per
 * collective made the ranks meet at every unit and was the largest part of stage 3's overhead in
 * StepBench.
 *
 * <p>After a divergence the data collective may never complete; its buffers are then left to the
 * collective (see {@link UnitParams#close()}), never freed under it.
 */
final class UnitCollectives {

  /** What every rank must run the same, for messages. */
  static final String SAME_UNITS =
      "every rank must run the same sharding units in the same order in forward and backward"
          + " (check data-dependent branches that skip a unit on some ranks)";

  /** What a unit collective does, for the header and for messages. */
  enum Kind {
    GATHER("all-gather of the parameters"),
    REDUCE("reduce-scatter of the gradients"),
    STEP("optimizer step");

    final String what;

    Kind(String what) {
      this.what = what;
    }
  }

  /** A unit collective in flight. */
  static final class Op {
    private final UnitParams unit;
    private final Kind kind;
    private final long step;
    private final List<UnitParams> described; // the units of the collective's description
    private final long position; // in this iteration's record
    private Pending data;
    private Tensor scratch; // the all-to-all's receive buffer of a reduce, closed when awaited

    private Op(UnitParams unit, Kind kind, long step, List<UnitParams> described, long position) {
      this.unit = unit;
      this.kind = kind;
      this.step = step;
      this.described = described;
      this.position = position;
    }
  }

  private final Collectives comm;
  private final Collectives control; // null at world size 1
  private final List<String> unitNames;
  private final boolean allReduceFetch;
  private final AgreedOrder order = new AgreedOrder();
  private long step;
  private long confirmations;

  UnitCollectives(Collectives comm, List<String> unitNames, boolean allReduceFetch) {
    this.comm = comm;
    this.control = comm.worldSize() > 1 ? comm.control() : null;
    this.unitNames = unitNames;
    this.allReduceFetch = allReduceFetch;
  }

  Collectives comm() {
    return comm;
  }

  long step() {
    return step;
  }

  /** Header exchanges so far (collectives that did not follow the agreed order). */
  long confirmations() {
    return confirmations;
  }

  /**
   * At the start of the optimizer step: checks that every rank is there too (in steady state, by
   * the agreed order alone), and ends this iteration's record.
   */
  void endIteration() {
    if (control != null) {
      confirm(Kind.STEP, List.of(), null);
      order.endIteration();
    }
  }

  /** The optimizer step the next collectives belong to (for checks and messages). */
  void step(long next) {
    this.step = next;
  }

  /** Starts gathering {@code unit}'s full buffer from every rank's shard. */
  Op gather(UnitParams unit) {
    Op[] op = new Op[1];
    gather(List.of(unit), (u, o) -> op[0] = o);
    return op[0];
  }

  /**
   * Starts gathering each unit of {@code batch} (full buffers allocated), in order, described to
   * the peers {@link DivergenceHeader#MAX_UNITS} units at a time; {@code started} receives each
   * collective as soon as it is issued.
   */
  void gather(List<UnitParams> batch, BiConsumer<UnitParams, Op> started) {
    for (int from = 0; from < batch.size(); from += DivergenceHeader.MAX_UNITS) {
      List<UnitParams> part =
          List.copyOf(
              batch.subList(from, Math.min(batch.size(), from + DivergenceHeader.MAX_UNITS)));
      long position = confirm(Kind.GATHER, part, part.get(0));
      for (UnitParams unit : part) {
        Op op = new Op(unit, Kind.GATHER, step, part, position);
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

  /**
   * Starts reduce-scattering {@code staging} (scratch, laid out as in {@link ReduceBucket}) into
   * {@code out} for {@code units}.
   */
  Op reduceScatter(List<UnitParams> units, Tensor out, Tensor staging) {
    UnitParams unit = units.get(0);
    List<UnitParams> described = List.copyOf(units);
    long position = confirm(Kind.REDUCE, described, unit);
    Op op = new Op(unit, Kind.REDUCE, step, described, position);
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
      closeScratch(op);
      throw failed(op, e);
    }
  }

  /**
   * Waits for a unit collective, naming the unit and the step if it fails; when it fails after
   * following the agreed order, asks the peers whether one of them left it (Note [agreed order]).
   */
  void await(Op op) {
    try {
      op.data.await();
      closeScratch(op);
    } catch (RuntimeException e) {
      if (control != null) {
        askPeers(op, e);
      }
      throw failed(op, e);
    }
  }

  /**
   * Forgets the agreed order after a failure that may have left the ranks at different points; the
   * next collectives are confirmed one by one until an iteration completes.
   */
  void forgetOrder() {
    order.forget();
  }

  // Note [agreed order]: issues nothing when the collective follows the agreed order; otherwise
  // exchanges its description with every rank and returns only when all describe the same one.
  // Returns the collective's position in this iteration.
  private long confirm(Kind kind, List<UnitParams> units, UnitParams first) {
    if (control == null) {
      return 0;
    }
    if (order.follows(AgreedOrder.describe(kind, units))) {
      return order.position();
    }
    long position = order.position();
    confirmations++;
    long[] departed = order.departedFrom();
    DivergenceHeader h;
    try {
      h =
          DivergenceHeader.issue(
              control,
              kind,
              step,
              position,
              DivergenceHeader.CONFIRMING,
              units,
              comm.timeout().multipliedBy(2));
      h.check(control, unitNames);
      return position;
    } catch (RankDivergenceException e) {
      order.forget();
      throw e;
    } catch (RuntimeException e) {
      order.forget();
      String here = describe(kind.ordinal(), first == null ? -1 : first.index(), unitNames);
      throw new RankDivergenceException(
          "ZeRO stage 3 ranks diverged at step "
              + step
              + " or a peer stopped: rank "
              + comm.rank()
              + " is at "
              + here
              + (departed == null
                  ? ""
                  : ", where the previous iteration had "
                      + describe(departed, unitNames)
                      + " on every rank,")
              + " and no peer confirmed it within "
              + comm.timeout().multipliedBy(2)
              + " ("
              + e.getMessage()
              + "); "
              + SAME_UNITS);
    }
  }

  // After a data collective that followed the agreed order failed: a peer that left the order
  // waits on the control group with its header; a short exchange there names both units.
  // The question is marked as asking (DivergenceHeader.ASKING), so it never confirms a peer's
  // header, even one that describes the same collective at the same point. It waits about a second
  // per peer (the followers' own timeouts end within the skew between them), at most half the
  // timeout.
  private void askPeers(Op op, RuntimeException cause) {
    order.forget();
    Duration brief = Duration.ofSeconds(comm.worldSize() - 1L);
    if (brief.compareTo(comm.timeout().dividedBy(2)) > 0) {
      brief = comm.timeout().dividedBy(2);
    }
    DivergenceHeader h;
    try {
      h =
          DivergenceHeader.issue(
              control, op.kind, op.step, op.position, DivergenceHeader.ASKING, op.described, brief);
    } catch (RuntimeException e) {
      return;
    }
    try {
      h.check(control, unitNames);
    } catch (RankDivergenceException e) {
      e.addSuppressed(cause);
      throw e;
    } catch (RuntimeException e) {
      // no peer answered: it has stopped; the caller reports the data collective's own failure
    }
  }

  /** "the all-gather of the parameters of unit 'h.2'", "the optimizer step". */
  static String describe(long kind, long unit, List<String> names) {
    Kind[] kinds = Kind.values();
    if (kind < 0 || kind >= kinds.length) {
      return "collective #" + kind;
    }
    if (kinds[(int) kind] == Kind.STEP) {
      return "the optimizer step";
    }
    String u =
        unit < 0
            ? "no unit"
            : "unit '" + (unit < names.size() ? names.get((int) unit) : "#" + unit) + "'";
    return "the " + kinds[(int) kind].what + " of " + u;
  }

  private static String describe(long[] d, List<String> names) {
    if (d.length == 0) {
      return "no further collective";
    }
    return describe(d[0], d.length > 1 ? d[1] : -1, names);
  }

  private static void closeScratch(Op op) {
    if (op.scratch != null) {
      op.scratch.close();
      op.scratch = null;
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
