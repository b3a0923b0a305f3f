package org.zero4j.engine.checkpoint;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Crash-safe file operations: content is written under a temporary name, forced to the disk,
 * renamed over its final name, and the directory is forced so the rename itself survives a power
 * loss. A reader therefore sees either the old file or the complete new one, never a prefix.
 */
public final class DurableFiles {

  private DurableFiles() {}

  /** The temporary name {@code target} is written under until {@link #publish}. */
  static Path temporary(Path target) {
    return target.resolveSibling("." + target.getFileName() + ".tmp");
  }

  /** Writes {@code content} to {@code target} atomically and durably. */
  public static void write(Path target, byte[] content) {
    Path tmp = temporary(target);
    try (FileChannel ch =
        FileChannel.open(
            tmp,
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING)) {
      ByteBuffer b = ByteBuffer.wrap(content);
      long pos = 0;
      while (b.hasRemaining()) {
        pos += ch.write(b, pos);
      }
      ch.force(true);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + tmp + ": " + e.getMessage(), e);
    }
    publish(tmp, target);
  }

  /** Renames the forced file {@code tmp} over {@code target}, then forces the directory. */
  static void publish(Path tmp, Path target) {
    try {
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot rename " + tmp + " to " + target + ": " + e.getMessage(), e);
    }
    forceDirectory(target.toAbsolutePath().getParent());
  }

  /** Renames a directory (atomically on one file system), then forces its parent. */
  static void renameDirectory(Path from, Path to) {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot rename " + from + " to " + to + ": " + e.getMessage(), e);
    }
    forceDirectory(to.toAbsolutePath().getParent());
  }

  /** Forces a directory's entries (new names, renames) to the disk. */
  static void forceDirectory(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot sync directory " + dir + ": " + e.getMessage(), e);
    }
  }

  /** Deletes a directory tree if it exists. */
  static void deleteTree(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (var walk = Files.walk(dir)) {
      for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + dir + ": " + e.getMessage(), e);
    }
  }
}
