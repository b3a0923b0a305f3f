package org.zero4j.kernels.host;

/**
 * Transparent huge pages for long-lived host buffers ({@code madvise(MADV_HUGEPAGE)}).
 *
 * <p>Note [huge pages for swap buffers]: a direct read or write hands the device one segment per
 * physically contiguous piece of the buffer. With 4 KiB pages a 1 MiB request is 256 segments; on a
 * virtual disk each costs the host a separate copy, and reads into a large buffer measured 0.69 to
 * 0.79 of the same reads into a small reused buffer (which is what {@code dd} does). Backed by 2
 * MiB pages the same reads measured 1.01 (see BENCHMARKS.md, OffloadBench).
 */
public final class HugePages {

  /** The size of a transparent huge page on x86-64. */
  public static final long SIZE = 2L << 20;

  private HugePages() {}

  /**
   * Asks the kernel to back {@code [address, address + length)} with huge pages when it is first
   * touched. Advice only: the memory works the same either way.
   *
   * @param address a multiple of 4096
   * @return true if the kernel took the advice; false where it has no transparent huge pages
   * @throws IllegalArgumentException if the address is not page-aligned or the length negative
   */
  public static boolean advise(long address, long length) {
    if (address % 4096 != 0 || length < 0) {
      throw new IllegalArgumentException(
          "huge-page advice needs a page-aligned address and a length >= 0, got address "
              + address
              + " and length "
              + length);
    }
    return length == 0 || HugePagesNative.adviseHugePages(address, length) == 0;
  }
}
