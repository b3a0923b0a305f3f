package org.zero4j.zero.stage3;

import java.time.Duration;
import java.util.List;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.zero.comm.Collectives;
import org.zero4j.zero.comm.EngineOwned;
import org.zero4j.zero.comm.Pending;

/**
 * One all-gather, on the control group ({@link Collectives#control()}), of every rank's description
 * of the unit collective it issues next: its kind, the optimizer step, and the units, in order (at
 * most {@link #MAX_UNITS}). See Note [agreed order] in {@link UnitCollectives}.
 *
 * <p>The header has the same size on every rank whatever it describes, so that ranks that disagree
 * still complete its exchange and learn what their peers are doing.
 */
final class DivergenceHeader {

  /** Units one header describes; a longer batch of collectives gets one header per part. */
  static final int MAX_UNITS = 8;

  private static final int FIELDS = 5; // kind, step, count, position, role

  /** A header that asks whether a rank left the order; never equal to a confirming one. */
  static final long ASKING = 1;

  /** A header that confirms the collective a rank issues next. */
  static final long CONFIRMING = 0;

  private static final int LONGS = FIELDS + MAX_UNITS;

  private final long step;
  private final long[] mine;
  private final Tensor in;
  private final Tensor out;
  private final Pending pending;
  private boolean checked;
  private RuntimeException failure;

  private DivergenceHeader(long step, long[] mine, Tensor in, Tensor out, Pending pending) {
    this.step = step;
    this.mine = mine;
    this.in = in;
    this.out = out;
    this.pending = pending;
  }

  /**
   * Starts exchanging the header for {@code units}' collectives of {@code kind} (no units for the
   * optimizer step), the {@code position}-th collective of this iteration, on {@code control},
   * waiting at most {@code timeout}. {@code role} is {@link #CONFIRMING} or {@link #ASKING}.
   */
  static DivergenceHeader issue(
      Collectives control,
      UnitCollectives.Kind kind,
      long step,
      long position,
      long role,
      List<UnitParams> units,
      Duration timeout) {
    if (units.size() > MAX_UNITS) {
      throw new IllegalStateException(
          "a divergence header describes at most " + MAX_UNITS + " units, not " + units.size());
    }
    long[] mine = new long[LONGS];
    mine[0] = kind.ordinal();
    mine[1] = step;
    mine[2] = units.size();
    mine[3] = position;
    mine[4] = role;
    for (int i = 0; i < units.size(); i++) {
      mine[FIELDS + i] = units.get(i).index();
    }
    Tensor in;
    Tensor out;
    try (TensorOptions longs = new TensorOptions(torch.ScalarType.Long);
        MemoryFormatOptional format = new MemoryFormatOptional()) {
      // closed by check(), possibly after the caller's PointerScope (EngineOwned)
      in = EngineOwned.take(torch.tensor(mine, longs));
      out =
          EngineOwned.take(
              torch.empty(new long[] {(long) LONGS * control.worldSize()}, longs, format));
    }
    return new DivergenceHeader(step, mine, in, out, control.allGather(out, in, timeout));
  }

  /**
   * Waits for the exchange and compares every rank's header with this rank's; idempotent (a later
   * call rethrows the first failure).
   *
   * @throws RankDivergenceException when a rank describes different collectives
   */
  void check(Collectives comm, List<String> unitNames) {
    if (failure != null) {
      throw failure;
    }
    if (checked) {
      return;
    }
    try {
      pending.await();
      long[] seen = new long[LONGS * comm.worldSize()];
      out.data_ptr_long().get(seen);
      for (int r = 0; r < comm.worldSize(); r++) {
        compare(comm.rank(), r, seen, r * LONGS, unitNames);
      }
      checked = true;
    } catch (RuntimeException e) {
      failure = e;
      throw e;
    } finally {
      in.close();
      out.close();
    }
  }

  private void compare(int rank, int r, long[] seen, int at, List<String> names) {
    boolean same = true;
    for (int i = 0; i < LONGS && same; i++) {
      same = seen[at + i] == mine[i];
    }
    if (same) {
      return;
    }
    int theirCount = (int) seen[at + 2];
    int pos = 0;
    while (pos < Math.min(theirCount, (int) mine[2])
        && seen[at + FIELDS + pos] == mine[FIELDS + pos]) {
      pos++;
    }
    if (pos >= Math.max(theirCount, (int) mine[2])) {
      pos = 0; // the same units: the kind or the step differs
    }
    throw new RankDivergenceException(
        "ZeRO stage 3 ranks diverged at step "
            + step
            + ": rank "
            + rank
            + " is at "
            + UnitCollectives.describe(mine[0], pos < mine[2] ? mine[FIELDS + pos] : -1, names)
            + " but rank "
            + r
            + " is at "
            + UnitCollectives.describe(
                seen[at], pos < theirCount ? seen[at + FIELDS + pos] : -1, names)
            + " (step "
            + seen[at + 1]
            + "; collective "
            + mine[3]
            + " of this rank's iteration, "
            + seen[at + 3]
            + " of rank "
            + r
            + "'s"
            + (seen[at + 4] == ASKING || mine[4] == ASKING
                ? ", one of them asking after its collective failed"
                : "")
            + "); "
            + UnitCollectives.SAME_UNITS);
  }
}
