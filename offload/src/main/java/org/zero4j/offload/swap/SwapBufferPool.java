package org.zero4j.offload.swap;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * A named, fixed set of {@link SwapBuffer}s of equal size: the only host memory that NVMe-offloaded
 * state passes through, so its size bounds what swapping adds to the resident set. Buffers are
 * allocated up front and untouched until first used; {@link #close()} frees them all and reports
 * any that were still acquired, with exact byte counts.
 */
public final class SwapBufferPool implements AutoCloseable {

  private final String name;
  private final List<SwapBuffer> all = new ArrayList<>();
  private final Deque<SwapBuffer> free = new ArrayDeque<>();
  private final long bufferNumel;
  private boolean closed;

  /** {@code count} buffers of {@code bufferNumel} fp32 elements each. */
  public SwapBufferPool(String name, int count, long bufferNumel) {
    if (count < 1 || bufferNumel < 1) {
      throw new IllegalArgumentException(
          "swap buffer pool "
              + name
              + " needs >= 1 buffer of >= 1 element, got "
              + count
              + " x "
              + bufferNumel);
    }
    this.name = name;
    this.bufferNumel = bufferNumel;
    for (int i = 0; i < count; i++) {
      SwapBuffer b = new SwapBuffer(bufferNumel);
      all.add(b);
      free.add(b);
    }
  }

  /**
   * Takes a free buffer.
   *
   * @throws IllegalStateException if none is free: the caller holds more buffers than it planned
   */
  public synchronized SwapBuffer acquire() {
    if (closed) {
      throw new IllegalStateException("swap buffer pool " + name + " is closed");
    }
    SwapBuffer b = free.pollFirst();
    if (b == null) {
      throw new IllegalStateException(
          "swap buffer pool " + name + " has all " + all.size() + " buffers in use");
    }
    return b;
  }

  /** Returns a buffer taken with {@link #acquire()}. */
  public synchronized void release(SwapBuffer b) {
    if (!all.contains(b) || free.contains(b)) {
      throw new IllegalStateException(
          "buffer released to swap buffer pool " + name + " was not acquired from it");
    }
    free.addLast(b);
  }

  /** Elements per buffer. */
  public long bufferNumel() {
    return bufferNumel;
  }

  /** Number of buffers. */
  public int count() {
    return all.size();
  }

  /** Host bytes the pool can hold resident: count x buffer size. */
  public long bytes() {
    return all.size() * bufferNumel * Float.BYTES;
  }

  /**
   * Frees every buffer.
   *
   * @throws IllegalStateException naming the pool and the leaked bytes if buffers were still
   *     acquired (they are freed all the same)
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    int leaked = all.size() - free.size();
    for (SwapBuffer b : all) {
      b.free();
    }
    if (leaked > 0) {
      throw new IllegalStateException(
          "swap buffer pool "
              + name
              + " closed with "
              + leaked
              + " of "
              + all.size()
              + " buffers ("
              + leaked * bufferNumel * Float.BYTES
              + " bytes) still acquired");
    }
  }
}
