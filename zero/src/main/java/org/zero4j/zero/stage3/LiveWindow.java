package org.zero4j.zero.stage3;

import java.util.function.LongConsumer;

/**
 * The gathered (live) parameters of one rank: elements and bytes of every unit whose full buffer is
 * allocated, and the peak since the last reset. A sampler, if set, sees the byte count after every
 * change, so a test observes the exact maximum of the window through forward and backward.
 */
final class LiveWindow {

  private long numel;
  private long bytes;
  private long peakBytes;
  private LongConsumer sampler;

  void add(UnitParams u) {
    numel += u.paddedNumel();
    bytes += u.full().bytes();
    peakBytes = Math.max(peakBytes, bytes);
    if (sampler != null) {
      sampler.accept(bytes);
    }
  }

  void remove(UnitParams u) {
    numel -= u.paddedNumel();
    bytes -= u.full().bytes();
    if (numel < 0 || bytes < 0) {
      throw new IllegalStateException("live window went negative releasing unit " + u.name());
    }
    if (sampler != null) {
      sampler.accept(bytes);
    }
  }

  long numel() {
    return numel;
  }

  long bytes() {
    return bytes;
  }

  long peakBytes() {
    return peakBytes;
  }

  void resetPeak() {
    peakBytes = bytes;
  }

  void sampler(LongConsumer s) {
    this.sampler = s;
  }
}
