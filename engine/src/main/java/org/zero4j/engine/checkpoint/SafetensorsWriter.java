package org.zero4j.engine.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * Writes one safetensors file, streaming: each tensor's bytes are appended in header order, in
 * pieces of any size, through positional writes. Nothing but the piece being written is held in
 * memory.
 *
 * <p>The format (<a href="https://github.com/huggingface/safetensors">safetensors</a>): an 8-byte
 * little-endian unsigned header length N, N bytes of UTF-8 JSON mapping each tensor name to {@code
 * {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to the byte after the header)
 * plus an optional {@code "__metadata__"} string map, then the tensors' bytes, contiguous,
 * little-endian, row-major. The header is padded with spaces to a multiple of 8 bytes, as the
 * reference writer does, so every tensor starts 8-byte aligned.
 *
 * <p>Note [checksums in one pass]: with {@code tensorChecksums}, the {@code __metadata__} also
 * records each tensor's CRC-32C under {@code "crc32c:<name>"}, as 8 hex digits. Their width is
 * fixed, so the header's length is known before any data: the data is written first, each tensor's
 * CRC computed on the way, and the header is written last over a placeholder of the same length.
 * The header's own CRC-32C ({@link Written#headerCrc32c()}) then covers every byte of the file,
 * through the tensor CRCs it records.
 *
 * <p>The file is written under a temporary name and only {@link #commit()} forces and renames it
 * into place (see {@link DurableFiles}); a writer closed without a commit deletes its temporary.
 */
public final class SafetensorsWriter implements AutoCloseable {

  /** What was written: its size and the CRC-32C of its first bytes up to the end of the header. */
  public record Written(Path file, long bytes, long headerCrc32c) {}

  private static final String PLACEHOLDER = "00000000";

  private final Path target;
  private final Path tmp;
  private final FileChannel channel;
  private final List<TensorEntry> tensors;
  private final Map<String, String> metadata;
  private final boolean tensorChecksums;
  private final CRC32C tensorCrc = new CRC32C();
  private final int headerLength;
  private final long fileSize;
  private long position;
  private int current;
  private boolean committed;

  private SafetensorsWriter(
      Path target, List<TensorEntry> tensors, Map<String, String> metadata, boolean checksums)
      throws IOException {
    this.target = target;
    this.tmp = DurableFiles.temporary(target);
    this.tensorChecksums = checksums;
    this.metadata = new LinkedHashMap<>(metadata);
    if (checksums) {
      for (TensorEntry t : tensors) {
        this.metadata.put(CheckpointDir.CRC_KEY + t.name(), PLACEHOLDER);
      }
    }
    this.channel =
        FileChannel.open(
            tmp,
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING);
    List<TensorEntry> placed = new ArrayList<>();
    byte[] header = header(tensors, this.metadata, placed);
    this.tensors = placed;
    this.headerLength = header.length;
    this.position = 8L + header.length;
    this.fileSize = placed.isEmpty() ? position : placed.get(placed.size() - 1).end();
    skipEmpty();
  }

  /**
   * Starts {@code target} with these tensors (data offsets are assigned here, in list order) and
   * string metadata (may be empty).
   */
  public static SafetensorsWriter create(
      Path target, List<TensorEntry> tensors, Map<String, String> metadata) {
    return create(target, tensors, metadata, false);
  }

  /** As {@link #create(Path, List, Map)}, recording each tensor's CRC-32C if asked. */
  public static SafetensorsWriter create(
      Path target, List<TensorEntry> tensors, Map<String, String> metadata, boolean checksums) {
    try {
      return new SafetensorsWriter(target, tensors, metadata, checksums);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create " + target + ": " + e.getMessage(), e);
    }
  }

  private static byte[] header(
      List<TensorEntry> tensors, Map<String, String> metadata, List<TensorEntry> placed) {
    ObjectMapper m = new ObjectMapper();
    ObjectNode root = m.createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode meta = root.putObject("__metadata__");
      metadata.forEach(meta::put);
    }
    long offset = 0;
    List<long[]> offsets = new ArrayList<>();
    for (TensorEntry t : tensors) {
      if (t.name().equals("__metadata__") || root.has(t.name())) {
        throw new IllegalArgumentException("tensor name \"" + t.name() + "\" is used twice");
      }
      ObjectNode e = root.putObject(t.name());
      e.put("dtype", t.dtype().name());
      ArrayNode shape = e.putArray("shape");
      for (long d : t.shape()) {
        shape.add(d);
      }
      long end = offset + t.byteSize();
      e.putArray("data_offsets").add(offset).add(end);
      offsets.add(new long[] {offset, end});
      offset = end;
    }
    byte[] json = root.toString().getBytes(StandardCharsets.UTF_8);
    int padded = (json.length + 7) / 8 * 8;
    byte[] out = Arrays.copyOf(json, padded);
    Arrays.fill(out, json.length, padded, (byte) ' ');
    if (placed != null) {
      long base = 8L + padded;
      for (int i = 0; i < tensors.size(); i++) {
        TensorEntry t = tensors.get(i);
        long[] o = offsets.get(i);
        placed.add(new TensorEntry(t.name(), t.dtype(), t.shape(), base + o[0], base + o[1]));
      }
    }
    return out;
  }

  /** The tensors with their absolute offsets, in file order. */
  public List<TensorEntry> tensors() {
    return tensors;
  }

  /** The tensor the next {@link #write} bytes belong to, or null when all are written. */
  public TensorEntry currentTensor() {
    return current < tensors.size() ? tensors.get(current) : null;
  }

  /**
   * Appends the remaining bytes of {@code data}; they continue the current tensor and may run on
   * into the following ones.
   */
  public void write(ByteBuffer data) {
    while (data.hasRemaining()) {
      TensorEntry t = currentTensor();
      if (t == null) {
        throw new IllegalStateException(
            target + ": " + data.remaining() + " bytes written past the last tensor");
      }
      int n = (int) Math.min(data.remaining(), t.end() - position);
      ByteBuffer piece = data.slice(data.position(), n);
      if (tensorChecksums) {
        tensorCrc.update(piece.duplicate());
      }
      try {
        while (piece.hasRemaining()) {
          position += channel.write(piece, position);
        }
      } catch (IOException e) {
        throw new UncheckedIOException("cannot write " + tmp + ": " + e.getMessage(), e);
      }
      data.position(data.position() + n);
      skipEmpty();
    }
  }

  private void skipEmpty() {
    while (current < tensors.size() && position == tensors.get(current).end()) {
      if (tensorChecksums) {
        metadata.put(
            CheckpointDir.CRC_KEY + tensors.get(current).name(),
            CheckpointManifest.hex(tensorCrc.getValue()));
        tensorCrc.reset();
      }
      current++;
    }
  }

  /** Writes the header, forces the complete file to the disk and renames it over the target. */
  public Written commit() {
    if (currentTensor() != null) {
      throw new IllegalStateException(
          target + ": tensor " + currentTensor().name() + " is not fully written");
    }
    byte[] header = header(unplaced(), metadata, null);
    if (header.length != headerLength) {
      throw new IllegalStateException(
          target + ": the final header has " + header.length + " bytes, not " + headerLength);
    }
    ByteBuffer prefix = ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN);
    prefix.putLong(header.length).put(header).flip();
    CRC32C crc = new CRC32C();
    crc.update(prefix.duplicate());
    try {
      for (long pos = 0; prefix.hasRemaining(); ) {
        pos += channel.write(prefix, pos);
      }
      channel.force(true);
      channel.close();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + tmp + ": " + e.getMessage(), e);
    }
    DurableFiles.publish(tmp, target);
    committed = true;
    return new Written(target, fileSize, crc.getValue());
  }

  private List<TensorEntry> unplaced() {
    List<TensorEntry> out = new ArrayList<>();
    for (TensorEntry t : tensors) {
      out.add(TensorEntry.of(t.name(), t.dtype(), t.shape()));
    }
    return out;
  }

  @Override
  public void close() {
    try {
      channel.close();
      if (!committed) {
        Files.deleteIfExists(tmp);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot close " + tmp + ": " + e.getMessage(), e);
    }
  }
}
