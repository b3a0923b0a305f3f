package org.zero4j.offload.swap;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * This process's resident set, from {@code /proc/self/status} ({@code VmRSS}, {@code VmHWM}). On a
 * system without procfs the values are -1.
 */
public final class ResidentMemory {

  private static final Path STATUS = Path.of("/proc/self/status");

  private ResidentMemory() {}

  /** Current resident set size in bytes ({@code VmRSS}), or -1 if unknown. */
  public static long current() {
    return field("VmRSS:");
  }

  /** Peak resident set size in bytes since start or the last {@link #resetPeak()}, or -1. */
  public static long peak() {
    return field("VmHWM:");
  }

  /**
   * Resets the peak to the current resident set (writes 5 to {@code /proc/self/clear_refs}).
   *
   * @return false if the kernel does not allow it
   */
  public static boolean resetPeak() {
    try {
      Files.writeString(Path.of("/proc/self/clear_refs"), "5");
      return true;
    } catch (IOException | UnsupportedOperationException e) {
      return false;
    }
  }

  private static long field(String name) {
    try {
      for (String line : Files.readAllLines(STATUS)) {
        if (line.startsWith(name)) {
          String[] parts = line.substring(name.length()).trim().split("\\s+");
          return Long.parseLong(parts[0]) * 1024; // reported in kB
        }
      }
    } catch (IOException | RuntimeException e) {
      return -1;
    }
    return -1;
  }
}
