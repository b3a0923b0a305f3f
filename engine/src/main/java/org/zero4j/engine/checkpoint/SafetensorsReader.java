package org.zero4j.engine.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * Reads a safetensors file (format: see {@link SafetensorsWriter}) written by any tool. Opening
 * reads and validates only the header: every tensor's dtype, shape and offsets must agree, the data
 * must be contiguous from the end of the header, and the file must be exactly as long as the header
 * says, so a truncated file is rejected at once. Tensor bytes are then read on demand with
 * positional reads into the caller's buffer; the file is never mapped.
 */
public final class SafetensorsReader implements AutoCloseable {

  /** Receives consecutive pieces of one tensor's bytes. */
  @FunctionalInterface
  public interface Chunks {
    /** {@code bytes} holds the tensor's bytes from {@code tensorOffset} on. */
    void accept(long tensorOffset, ByteBuffer bytes);
  }

  private static final long MAX_HEADER = 100L << 20;

  private final Path file;
  private final FileChannel channel;
  private final long headerEnd;
  private final long headerCrc;
  private final Map<String, String> metadata;
  private final Map<String, TensorEntry> tensors;

  private SafetensorsReader(Path file, FileChannel channel) throws IOException {
    this.file = file;
    this.channel = channel;
    long size = channel.size();
    if (size < 8) {
      throw corrupt("is " + size + " bytes long, shorter than the 8-byte header length");
    }
    ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    readFully(len, 0);
    long n = len.flip().getLong();
    if (n < 2 || n > MAX_HEADER || 8 + n > size) {
      throw corrupt("declares a header of " + n + " bytes but the file has " + size + " bytes");
    }
    ByteBuffer header = ByteBuffer.allocate((int) n);
    readFully(header, 8);
    CRC32C crc = new CRC32C();
    crc.update(len.flip());
    crc.update(header.flip().duplicate());
    this.headerCrc = crc.getValue();
    this.headerEnd = 8 + n;
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(header.array());
    } catch (IOException e) {
      throw corrupt("has a header that is not valid JSON (" + e.getMessage() + ")");
    }
    if (root == null || !root.isObject()) {
      throw corrupt("has a header that is not a JSON object");
    }
    Map<String, String> meta = new LinkedHashMap<>();
    List<TensorEntry> list = new ArrayList<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (e.getKey().equals("__metadata__")) {
        e.getValue().fields().forEachRemaining(m -> meta.put(m.getKey(), m.getValue().asText()));
      } else {
        list.add(entry(e.getKey(), e.getValue()));
      }
    }
    list.sort(Comparator.comparingLong(TensorEntry::begin));
    long expected = headerEnd;
    Map<String, TensorEntry> byName = new LinkedHashMap<>();
    for (TensorEntry t : list) {
      if (t.begin() != expected) {
        throw corrupt("has a gap or overlap before tensor " + t.name() + " at byte " + t.begin());
      }
      expected = t.end();
      byName.put(t.name(), t);
    }
    if (expected != size) {
      throw corrupt(
          (expected > size ? "is truncated" : "has trailing bytes")
              + ": its header says the data ends at byte "
              + expected
              + " but the file has "
              + size
              + " bytes");
    }
    this.metadata = Collections.unmodifiableMap(meta);
    this.tensors = Collections.unmodifiableMap(byName);
  }

  private TensorEntry entry(String name, JsonNode e) {
    JsonNode dtype = e.get("dtype");
    JsonNode shape = e.get("shape");
    JsonNode offsets = e.get("data_offsets");
    if (dtype == null || shape == null || offsets == null || offsets.size() != 2) {
      throw corrupt("has a malformed header entry for tensor " + name);
    }
    long[] dims = new long[shape.size()];
    for (int i = 0; i < dims.length; i++) {
      dims[i] = shape.get(i).asLong(-1);
      if (dims[i] < 0) {
        throw corrupt("has a negative dimension in tensor " + name);
      }
    }
    TensorEntry t =
        new TensorEntry(
            name,
            TensorDtype.parse(dtype.asText(), file.toString()),
            dims,
            headerEnd + offsets.get(0).asLong(),
            headerEnd + offsets.get(1).asLong());
    if (t.end() - t.begin() != t.byteSize()) {
      throw corrupt(
          "says tensor "
              + name
              + " spans "
              + (t.end() - t.begin())
              + " bytes, but its dtype and shape need "
              + t.byteSize());
    }
    return t;
  }

  /** Opens {@code file} and validates its header. */
  public static SafetensorsReader open(Path file) {
    FileChannel ch;
    try {
      ch = FileChannel.open(file, StandardOpenOption.READ);
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException("checkpoint file " + file + " is missing", e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open " + file + ": " + e.getMessage(), e);
    }
    try {
      return new SafetensorsReader(file, ch);
    } catch (IOException | RuntimeException e) {
      try {
        ch.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      if (e instanceof IOException io) {
        throw new UncheckedIOException("cannot read " + file + ": " + io.getMessage(), io);
      }
      throw (RuntimeException) e;
    }
  }

  /** The file read. */
  public Path file() {
    return file;
  }

  /** The {@code __metadata__} map (empty if absent). */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** Tensors by name, in file order. */
  public Map<String, TensorEntry> tensors() {
    return tensors;
  }

  /** CRC-32C of the file's first bytes up to the end of the header. */
  public long headerCrc32c() {
    return headerCrc;
  }

  /** The tensor {@code name}; an error naming the file if it has none. */
  public TensorEntry tensor(String name) {
    TensorEntry t = tensors.get(name);
    if (t == null) {
      throw corrupt("has no tensor named " + name);
    }
    return t;
  }

  /** Reads {@code dst.remaining()} bytes of tensor {@code t} from {@code tensorOffset}. */
  public void read(TensorEntry t, long tensorOffset, ByteBuffer dst) {
    if (tensorOffset < 0 || tensorOffset + dst.remaining() > t.end() - t.begin()) {
      throw new IllegalStateException("read outside tensor " + t.name() + " of " + file);
    }
    readFully(dst, t.begin() + tensorOffset);
  }

  /**
   * Streams all of tensor {@code t} through {@code scratch} (a bounded buffer, reused) to {@code
   * sink} and returns the CRC-32C of its bytes.
   */
  public long stream(TensorEntry t, ByteBuffer scratch, Chunks sink) {
    CRC32C crc = new CRC32C();
    long total = t.end() - t.begin();
    for (long off = 0; off < total; ) {
      int n = (int) Math.min(scratch.capacity(), total - off);
      scratch.clear().limit(n);
      read(t, off, scratch);
      scratch.flip();
      crc.update(scratch.duplicate());
      sink.accept(off, scratch);
      off += n;
    }
    return crc.getValue();
  }

  private void readFully(ByteBuffer dst, long position) {
    try {
      long pos = position;
      while (dst.hasRemaining()) {
        int n = channel.read(dst, pos);
        if (n < 0) {
          throw corrupt("ended at byte " + pos + " while reading (truncated?)");
        }
        pos += n;
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  private IllegalArgumentException corrupt(String what) {
    return new IllegalArgumentException(
        "checkpoint file " + file + " " + what + "; it is corrupt or not a safetensors file");
  }

  @Override
  public void close() {
    try {
      channel.close();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot close " + file + ": " + e.getMessage(), e);
    }
  }
}
