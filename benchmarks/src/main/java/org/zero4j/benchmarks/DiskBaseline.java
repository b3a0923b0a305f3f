package org.zero4j.benchmarks;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * GNU {@code dd} with {@code O_DIRECT}: the raw disk bandwidth that swap I/O is compared with, on
 * the same filesystem and in the same run. Times are {@code dd}'s own (the copy, not the process
 * start).
 */
final class DiskBaseline {

  private DiskBaseline() {}

  /** Writes {@code mib} MiB of zeros to {@code file} with {@code oflag=direct conv=fdatasync}. */
  static double writeBytesPerSecond(Path file, int mib) throws IOException, InterruptedException {
    return seconds(
        mib,
        "dd",
        "if=/dev/zero",
        "of=" + file,
        "bs=1M",
        "count=" + mib,
        "oflag=direct",
        "conv=fdatasync");
  }

  /** Reads {@code mib} MiB of {@code file} with {@code iflag=direct}. */
  static double readBytesPerSecond(Path file, int mib) throws IOException, InterruptedException {
    return seconds(
        mib, "dd", "if=" + file, "of=/dev/null", "bs=1M", "count=" + mib, "iflag=direct");
  }

  /**
   * Drops {@code file}'s pages from the page cache ({@code dd iflag=nocache count=0}, which calls
   * {@code posix_fadvise(DONTNEED)}), so that the next read comes from the disk.
   */
  static void dropCache(Path file) throws IOException, InterruptedException {
    run(List.of("dd", "if=" + file, "iflag=nocache", "count=0", "status=none"));
  }

  private static double seconds(int mib, String... cmd) throws IOException, InterruptedException {
    String out = run(List.of(cmd));
    // "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 0.81 s, 1.3 GB/s"
    for (String line : out.split("\n")) {
      if (line.contains(" copied, ")) {
        String secs = line.substring(line.indexOf(" copied, ") + 9).split(" ")[0].replace(',', '.');
        return mib * 1048576.0 / Double.parseDouble(secs);
      }
    }
    throw new IllegalStateException("dd printed no timing line:\n" + out);
  }

  private static String run(List<String> cmd) throws IOException, InterruptedException {
    List<String> c = new ArrayList<>(cmd);
    Process p = new ProcessBuilder(c).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IllegalStateException(String.join(" ", c) + " failed:\n" + out);
    }
    return out;
  }
}
