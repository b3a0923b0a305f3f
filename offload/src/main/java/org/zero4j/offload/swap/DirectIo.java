package org.zero4j.offload.swap;

import com.sun.nio.file.ExtendedOpenOption;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/**
 * Whether a directory's filesystem accepts {@code O_DIRECT}, and with which alignment.
 *
 * <p>Note [probe before the swap file]: the answer comes from a throw-away probe file, never from
 * the swap file itself. A refused {@code O_DIRECT} open still creates a descriptor of the file, and
 * closing any descriptor of a file drops every POSIX lock this process holds on it, which would
 * make a live swap file look stale to other processes (Note [stale swap files] in {@link
 * SwapDirectory}). The answer is kept per directory for the life of the JVM, and a refusal is
 * logged once per directory.
 */
final class DirectIo {

  private static final Logger LOG = Logger.getLogger(DirectIo.class.getName());

  /** The largest alignment taken as an O_DIRECT block; beyond it, I/O stays buffered. */
  private static final int MAX_BLOCK = 1 << 20;

  private static final Map<Path, Integer> BLOCK = new ConcurrentHashMap<>();

  private DirectIo() {}

  /**
   * The alignment that {@code O_DIRECT} I/O on files in {@code dir} needs, or 0 if its filesystem
   * refuses {@code O_DIRECT} (tmpfs before Linux 6.6, some network and FUSE filesystems).
   */
  static int block(Path dir) {
    return BLOCK.computeIfAbsent(dir.toAbsolutePath(), DirectIo::probe);
  }

  private static int probe(Path dir) {
    Path probe;
    try {
      probe = Files.createTempFile(dir, ".zero4j-direct-probe-", ".tmp");
    } catch (IOException e) {
      return refused(dir, e.toString());
    }
    try {
      long block = Files.getFileStore(probe).getBlockSize();
      if (block <= 0 || block > MAX_BLOCK || Long.bitCount(block) != 1) {
        return refused(dir, "its block size " + block + " is not a power of two up to 1 MiB");
      }
      open(probe).close();
      return (int) block;
    } catch (IOException | UnsupportedOperationException e) {
      return refused(dir, e.toString());
    } finally {
      try {
        Files.deleteIfExists(probe);
      } catch (IOException ignored) {
        // an empty hidden file is left behind; the swap files themselves are unaffected
      }
    }
  }

  private static int refused(Path dir, String why) {
    LOG.warning(
        "swap files in "
            + dir
            + " are read and written through the page cache: the filesystem does not take"
            + " O_DIRECT ("
            + why
            + "); swap throughput may be lower and the page cache holds swapped data");
    return 0;
  }

  /** {@code file} opened for reading and writing with {@code O_DIRECT}. */
  static FileChannel open(Path file) throws IOException {
    return FileChannel.open(
        file, StandardOpenOption.READ, StandardOpenOption.WRITE, ExtendedOpenOption.DIRECT);
  }
}
