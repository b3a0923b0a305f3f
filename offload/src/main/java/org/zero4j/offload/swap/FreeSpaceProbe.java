package org.zero4j.offload.swap;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * How many bytes a directory's filesystem still has room for. Injectable so that tests can simulate
 * a full disk without filling one.
 */
@FunctionalInterface
public interface FreeSpaceProbe {

  /** Bytes a non-privileged user may still write on the filesystem holding {@code dir}. */
  long usableBytes(Path dir);

  /** The filesystem's own answer ({@link java.nio.file.FileStore#getUsableSpace()}). */
  FreeSpaceProbe FILESYSTEM =
      dir -> {
        try {
          return Files.getFileStore(dir).getUsableSpace();
        } catch (IOException e) {
          throw new UncheckedIOException("cannot read the free space of " + dir, e);
        }
      };
}
