package org.zero4j.engine.checkpoint;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32C;
import org.bytedeco.pytorch.Tensor;

/**
 * The tensor files of one checkpoint, opened on first use and verified against the manifest: the
 * size must match (a truncated file is named at once), the header's CRC-32C must match, and every
 * tensor streamed through {@link #stream} must match the CRC-32C its header records. Every byte a
 * load uses is therefore checked.
 */
public final class CheckpointFiles implements AutoCloseable {

  private static final int DIRECT_SLICE = 64 << 20;

  private final Path tagDir;
  private final CheckpointManifest manifest;
  private final Map<String, SafetensorsReader> open = new LinkedHashMap<>();

  public CheckpointFiles(Path tagDir, CheckpointManifest manifest) {
    this.tagDir = tagDir;
    this.manifest = manifest;
  }

  /** The verified reader of the manifest's file {@code name}. */
  public SafetensorsReader open(String name) {
    SafetensorsReader r = open.get(name);
    if (r != null) {
      return r;
    }
    CheckpointManifest.FileInfo info = manifest.file(name, tagDir);
    Path file = tagDir.resolve(name);
    long size;
    try {
      size = Files.size(file);
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException(
          "checkpoint file "
              + file
              + " is missing but "
              + CheckpointManifest.FILE_NAME
              + " lists it",
          e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
    }
    if (size != info.bytes()) {
      throw new IllegalArgumentException(
          "checkpoint file "
              + file
              + " has "
              + size
              + " bytes but the manifest records "
              + info.bytes()
              + (size < info.bytes() ? ": it is truncated" : ": it was modified"));
    }
    r = SafetensorsReader.open(file);
    String headerCrc = CheckpointManifest.hex(r.headerCrc32c());
    if (!headerCrc.equals(info.headerCrc32c())) {
      r.close();
      throw new IllegalArgumentException(
          "checkpoint file "
              + file
              + " has a header whose CRC-32C is "
              + headerCrc
              + " but the manifest records "
              + info.headerCrc32c()
              + ": the file is corrupt");
    }
    open.put(name, r);
    return r;
  }

  /**
   * Streams tensor {@code t} of {@code r} through {@code scratch} to {@code sink}, then checks its
   * CRC-32C against the one recorded in the file's header; a mismatch names file and tensor.
   */
  public static void stream(
      SafetensorsReader r, TensorEntry t, ByteBuffer scratch, SafetensorsReader.Chunks sink) {
    check(r, t, r.stream(t, scratch, sink));
  }

  private static void check(SafetensorsReader r, TensorEntry t, long crc) {
    String expected = r.metadata().get(CheckpointDir.CRC_KEY + t.name());
    if (expected == null) {
      throw new IllegalArgumentException(
          "checkpoint file " + r.file() + " records no checksum for tensor " + t.name());
    }
    String actual = CheckpointManifest.hex(crc);
    if (!actual.equals(expected)) {
      throw new IllegalArgumentException(
          "checkpoint file "
              + r.file()
              + ": tensor "
              + t.name()
              + " fails its CRC-32C check (recorded "
              + expected
              + ", read "
              + actual
              + "); the file is corrupt, load another checkpoint");
    }
  }

  /**
   * Reads all of tensor {@code t} of {@code r} straight into {@code dest}'s memory from byte {@code
   * destOffset} (no intermediate copy), then checks its CRC-32C like {@link #stream}.
   */
  static void readInto(SafetensorsReader r, TensorEntry t, Tensor dest, long destOffset) {
    CRC32C crc = new CRC32C();
    long total = t.end() - t.begin();
    for (long done = 0; done < total; ) {
      int n = (int) Math.min(DIRECT_SLICE, total - done);
      ByteBuffer window = NativeBytes.window(dest, destOffset + done, n);
      r.read(t, done, window);
      crc.update(window.flip());
      done += n;
    }
    check(r, t, crc.getValue());
  }

  @Override
  public void close() {
    for (SafetensorsReader r : open.values()) {
      r.close();
    }
    open.clear();
  }
}
