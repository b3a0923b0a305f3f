package org.zero4j.kernels.host;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** The advice reaches the kernel: the advised range is backed by huge pages once touched. */
class HugePagesTest {

  @Test
  void badArgumentsAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> HugePages.advise(4097, 4096));
    assertThrows(IllegalArgumentException.class, () -> HugePages.advise(8192, -1));
    assertTrue(HugePages.advise(8192, 0), "an empty range needs no advice");
  }

  @Test
  @SuppressWarnings("try")
  void advisedMemoryIsBackedByHugePages() throws IOException {
    Path mode = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");
    Assumptions.assumeTrue(
        Files.exists(mode) && !Files.readString(mode).contains("[never]"),
        "this kernel has transparent huge pages");
    long huge = HugePages.SIZE;
    // 40 MiB: above glibc's largest mmap threshold, so fresh, untouched memory
    try (Tensor t = torch.empty(20 * huge / Float.BYTES)) {
      long base;
      try (Pointer p = t.data_ptr()) {
        base = p.address();
      }
      long start = (base + huge - 1) / huge * huge;
      assertTrue(HugePages.advise(start, 3 * huge));
      t.fill_(new Scalar(1.0)); // first touch, after the advice
      assertTrue(
          anonHugeBytes(start) >= huge,
          "the mapping holding the advised range has huge pages: " + anonHugeBytes(start));
    }
  }

  // AnonHugePages of the mapping in /proc/self/smaps that contains address.
  private static long anonHugeBytes(long address) throws IOException {
    boolean inside = false;
    for (String line : Files.readAllLines(Path.of("/proc/self/smaps"))) {
      String[] f = line.split("\\s+");
      if (f[0].matches("[0-9a-f]+-[0-9a-f]+")) {
        String[] range = f[0].split("-");
        inside =
            Long.parseUnsignedLong(range[0], 16) <= address
                && address < Long.parseUnsignedLong(range[1], 16);
      } else if (inside && f[0].equals("AnonHugePages:")) {
        return Long.parseLong(f[1]) * 1024;
      }
    }
    return 0;
  }
}
