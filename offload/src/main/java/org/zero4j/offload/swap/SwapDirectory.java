package org.zero4j.offload.swap;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;

/**
 * The {@code nvme_path} directory: checked once at initialize, before any swap file is made, and
 * swept of swap files that a killed run left behind.
 *
 * <p>Note [stale swap files]: every live {@link SwapFile} holds an exclusive OS file lock for its
 * whole life. The kernel drops the lock when the owning process dies, however it dies, so a swap
 * file whose lock can be taken belongs to no running process and is stale. File names carry host,
 * pid and rank only to keep concurrent jobs apart; the lock, not the pid, decides staleness, so a
 * reused pid cannot make a live file look dead or a dead one look alive.
 */
public final class SwapDirectory {

  private static final Logger LOG = Logger.getLogger(SwapDirectory.class.getName());

  private final Path dir;

  private SwapDirectory(Path dir) {
    this.dir = dir;
  }

  /**
   * Validates {@code nvmePath} for a swap set of {@code bytesNeeded} bytes, then removes stale swap
   * files from earlier runs (logging each one) before counting free space.
   *
   * @param key the config key that named the path, for error messages
   * @throws IllegalArgumentException if the path is missing, not a directory, not writable, or its
   *     filesystem has fewer than {@code bytesNeeded} bytes free
   */
  public static SwapDirectory open(
      String key, String nvmePath, long bytesNeeded, FreeSpaceProbe probe) {
    if (nvmePath == null || nvmePath.isBlank()) {
      throw new IllegalArgumentException(
          key + " is required when device is \"nvme\"; set it to a directory on a fast local disk");
    }
    Path dir = Path.of(nvmePath).toAbsolutePath();
    if (!Files.exists(dir)) {
      throw new IllegalArgumentException(
          key + " " + dir + " does not exist; create the directory or point " + key + " elsewhere");
    }
    if (!Files.isDirectory(dir)) {
      throw new IllegalArgumentException(
          key + " " + dir + " is not a directory; point " + key + " at a directory");
    }
    checkWritable(key, dir);
    SwapDirectory d = new SwapDirectory(dir);
    d.removeStale();
    long free = probe.usableBytes(dir);
    if (free < bytesNeeded) {
      throw new IllegalArgumentException(
          key
              + " "
              + dir
              + " has "
              + free
              + " bytes free but the swap files need "
              + bytesNeeded
              + " bytes; free "
              + (bytesNeeded - free)
              + " bytes there, or use a larger disk");
    }
    return d;
  }

  private static void checkWritable(String key, Path dir) {
    // Files.isWritable answers true for root on any mode, so try an actual create instead.
    try {
      Path probe = Files.createTempFile(dir, ".zero4j-write-probe-", ".tmp");
      Files.delete(probe);
    } catch (IOException | SecurityException e) {
      throw new IllegalArgumentException(
          key
              + " "
              + dir
              + " is not writable ("
              + e
              + "); give this user write permission or point "
              + key
              + " elsewhere",
          e);
    }
  }

  /** The directory. */
  public Path path() {
    return dir;
  }

  /**
   * Deletes swap files that no running process holds (see Note [stale swap files]) and returns
   * their paths.
   */
  public List<Path> removeStale() {
    List<Path> removed = new ArrayList<>();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, SwapFile.GLOB)) {
      for (Path f : files) {
        if (isStale(f)) {
          long size = Files.size(f);
          Files.deleteIfExists(f);
          removed.add(f);
          LOG.warning(
              "removed stale swap file "
                  + f
                  + " ("
                  + size
                  + " bytes) left by a run that did not exit cleanly");
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot sweep stale swap files in " + dir, e);
    }
    return removed;
  }

  private static boolean isStale(Path f) throws IOException {
    if (SwapFile.isOpenHere(f)) {
      // Never open a live file of this JVM: closing any descriptor of a file drops every POSIX
      // lock this process holds on it, which would make the live file look stale to others.
      return false;
    }
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
      FileLock lock = ch.tryLock();
      if (lock == null) {
        return false;
      }
      lock.release();
      return true;
    } catch (OverlappingFileLockException e) {
      return false; // held by this very JVM
    }
  }
}
