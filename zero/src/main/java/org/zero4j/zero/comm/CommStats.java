package org.zero4j.zero.comm;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Bytes moved by each kind of collective on one rank.
 *
 * <p>Note [byte accounting]: we count the logical message size that ZeRO's analysis uses, not the
 * wire bytes of a particular algorithm. An all-reduce of B bytes counts 2B (it is a reduce-scatter
 * plus an all-gather), a reduce-scatter counts its B-byte input, an all-gather its B-byte output
 * and a broadcast its B-byte buffer. With this convention plain data parallelism moves 2Ψ elements
 * per step and ZeRO-1/2 move Ψ + Ψ, so benchmarks can compare with the paper's 2Ψ and 3Ψ directly.
 * A ring algorithm's wire bytes per rank are (N-1)/N of these numbers.
 */
public final class CommStats {

  /** Kinds of collective. */
  public enum Op {
    ALL_REDUCE,
    REDUCE_SCATTER,
    ALL_GATHER,
    BROADCAST
  }

  private final AtomicLongArray bytes = new AtomicLongArray(Op.values().length);
  private final AtomicLongArray transport = new AtomicLongArray(Op.values().length);
  private final AtomicLongArray calls = new AtomicLongArray(Op.values().length);

  void record(Op op, long logicalBytes, long transportBytes) {
    bytes.addAndGet(op.ordinal(), logicalBytes);
    transport.addAndGet(op.ordinal(), transportBytes);
    calls.incrementAndGet(op.ordinal());
  }

  /** Bytes of one kind as the backend moves them (same convention), since the last reset. */
  public long transportBytes(Op op) {
    return transport.get(op.ordinal());
  }

  /** Transport bytes of all kinds since the last {@link #reset()}. */
  public long totalTransportBytes() {
    long sum = 0;
    for (Op op : Op.values()) {
      sum += transportBytes(op);
    }
    return sum;
  }

  /** Logical bytes of one kind since the last {@link #reset()}. */
  public long bytes(Op op) {
    return bytes.get(op.ordinal());
  }

  /** Number of calls of one kind since the last {@link #reset()}. */
  public long calls(Op op) {
    return calls.get(op.ordinal());
  }

  /** Logical bytes of all kinds since the last {@link #reset()}. */
  public long totalBytes() {
    long sum = 0;
    for (Op op : Op.values()) {
      sum += bytes(op);
    }
    return sum;
  }

  /** A copy of the byte counters, per kind. */
  public Map<Op, Long> snapshot() {
    Map<Op, Long> out = new EnumMap<>(Op.class);
    for (Op op : Op.values()) {
      out.put(op, bytes(op));
    }
    return out;
  }

  /** Zeroes every counter. */
  public void reset() {
    for (int i = 0; i < Op.values().length; i++) {
      bytes.set(i, 0);
      transport.set(i, 0);
      calls.set(i, 0);
    }
  }
}
