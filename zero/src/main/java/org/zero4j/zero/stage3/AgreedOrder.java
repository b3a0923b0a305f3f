package org.zero4j.zero.stage3;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The order of unit collectives that every rank is known to have issued in the previous iteration
 * (from one optimizer step to the next), which this iteration's collectives are compared with
 * before each is issued. See Note [agreed order] in {@link UnitCollectives}.
 *
 * <p>A collective is described by a short array: its kind, then its units. An iteration is agreed
 * when each of its collectives either followed the previous agreed order or was confirmed by an
 * exchange with every rank; so every rank ends the iteration with the same record.
 */
final class AgreedOrder {

  // An iteration with more collectives than this (forwards without any optimizer step, as in an
  // evaluation loop) is not recorded further and never becomes the agreed order: it is confirmed
  // collective by collective, with bounded memory.
  private static final int MAX_RECORD = 1 << 16;

  private List<long[]> agreed = List.of(); // empty until a first iteration has been confirmed
  private final List<long[]> record = new ArrayList<>();
  private boolean overflowed;
  private long position; // collectives recorded in this iteration so far
  private int pos;
  private boolean confirming = true;
  private long[] departedFrom; // what the agreed order had where this iteration left it

  /** The description of a collective of {@code kind} on {@code units}. */
  static long[] describe(UnitCollectives.Kind kind, List<UnitParams> units) {
    long[] d = new long[1 + units.size()];
    d[0] = kind.ordinal();
    for (int i = 0; i < units.size(); i++) {
      d[1 + i] = units.get(i).index();
    }
    return d;
  }

  /**
   * Records {@code d} as this iteration's next collective and says whether it follows the agreed
   * order. Once one collective of an iteration does not, none after it does either: the rest of the
   * iteration is confirmed collective by collective.
   */
  boolean follows(long[] d) {
    position++;
    if (record.size() < MAX_RECORD) {
      record.add(d);
    } else {
      overflowed = true;
    }
    if (!confirming && pos < agreed.size() && Arrays.equals(agreed.get(pos), d)) {
      pos++;
      return true;
    }
    if (!confirming) {
      departedFrom = pos < agreed.size() ? agreed.get(pos) : new long[0];
    }
    confirming = true;
    return false;
  }

  /** The position in this iteration of the collective {@link #follows} was last asked about. */
  long position() {
    return position - 1;
  }

  /**
   * Where this iteration left the agreed order: the collective the order had there (an empty array
   * past its end), or null when the iteration is not one that left it (the first one, or one after
   * {@link #forget()}).
   */
  long[] departedFrom() {
    return departedFrom;
  }

  /** Ends an iteration whose collectives all followed or were confirmed: its record is agreed. */
  void endIteration() {
    startIteration(overflowed ? List.of() : List.copyOf(record), false);
  }

  /**
   * Forgets the agreed order after a failure, which may have left the ranks at different points:
   * every collective is confirmed again until an iteration completes.
   */
  void forget() {
    startIteration(List.of(), true);
  }

  private void startIteration(List<long[]> nowAgreed, boolean confirmAll) {
    agreed = nowAgreed;
    record.clear();
    overflowed = false;
    position = 0;
    pos = 0;
    confirming = confirmAll;
    departedFrom = null;
  }
}
