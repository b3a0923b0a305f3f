package org.zero4j.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The writer and the reader against the safetensors specification, each checked by hand-made bytes
 * rather than by the other: an 8-byte little-endian header length, a JSON header with dtype, shape
 * and data_offsets relative to the end of the header, an optional string-valued __metadata__, then
 * the data.
 */
class SafetensorsFormatTest {

  @TempDir Path tmp;

  @Test
  void writerOutputFollowsTheSpecification() throws IOException {
    Path f = tmp.resolve("w.safetensors");
    float[] a = {1.5f, -2.25f, 3e-5f};
    short[] b = {(short) 0x3f80, (short) 0xc000}; // bf16 1.0, -2.0
    ByteBuffer ab = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
    for (float x : a) {
      ab.putFloat(x);
    }
    ByteBuffer bb = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
    for (short x : b) {
      bb.putShort(x);
    }
    try (SafetensorsWriter w =
        SafetensorsWriter.create(
            f,
            List.of(
                TensorEntry.of("a", TensorDtype.F32, 3),
                TensorEntry.of("b.w", TensorDtype.BF16, 1, 2)),
            Map.of("format", "pt"))) {
      // pieces that straddle the tensor boundary
      ByteBuffer all = ByteBuffer.allocate(16);
      all.put(ab.flip()).put(bb.flip()).flip();
      w.write(all.slice(0, 7));
      w.write(all.slice(7, 9));
      w.commit();
    }
    byte[] raw = Files.readAllBytes(f);
    ByteBuffer in = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
    long n = in.getLong();
    assertEquals(0, (8 + n) % 8, "header padded to 8-byte alignment");
    JsonNode h =
        new ObjectMapper().readTree(new String(raw, 8, (int) n, StandardCharsets.UTF_8).strip());
    assertEquals("pt", h.get("__metadata__").get("format").asText());
    assertEquals("F32", h.get("a").get("dtype").asText());
    assertEquals("[3]", h.get("a").get("shape").toString());
    assertEquals("[0,12]", h.get("a").get("data_offsets").toString());
    assertEquals("BF16", h.get("b.w").get("dtype").asText());
    assertEquals("[1,2]", h.get("b.w").get("shape").toString());
    assertEquals("[12,16]", h.get("b.w").get("data_offsets").toString());
    assertEquals(8 + n + 16, raw.length);
    in.position((int) (8 + n));
    for (float x : a) {
      assertEquals(Float.floatToIntBits(x), Float.floatToIntBits(in.getFloat()));
    }
    assertEquals(b[0], in.getShort());
    assertEquals(b[1], in.getShort());
  }

  @Test
  void checksumModeRecordsEachTensorsCrcInTheHeader() throws IOException {
    Path f = tmp.resolve("c.safetensors");
    byte[] a = new byte[4 * 53];
    byte[] b = new byte[8];
    new Random(3).nextBytes(a);
    new Random(4).nextBytes(b);
    SafetensorsWriter.Written w;
    try (SafetensorsWriter out =
        SafetensorsWriter.create(
            f,
            List.of(TensorEntry.of("a", TensorDtype.F32, 53), TensorEntry.of("b", TensorDtype.I64)),
            Map.of(),
            true)) {
      out.write(ByteBuffer.wrap(a));
      out.write(ByteBuffer.wrap(b));
      w = out.commit();
    }
    byte[] raw = Files.readAllBytes(f);
    long n = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).getLong();
    JsonNode meta =
        new ObjectMapper()
            .readTree(new String(raw, 8, (int) n, StandardCharsets.UTF_8))
            .get("__metadata__");
    assertEquals(crc(a), meta.get("crc32c:a").asText());
    assertEquals(crc(b), meta.get("crc32c:b").asText());
    java.util.zip.CRC32C header = new java.util.zip.CRC32C();
    header.update(raw, 0, (int) (8 + n));
    assertEquals(header.getValue(), w.headerCrc32c());
    assertEquals(raw.length, w.bytes());
  }

  private static String crc(byte[] bytes) {
    java.util.zip.CRC32C c = new java.util.zip.CRC32C();
    c.update(bytes);
    return String.format("%08x", c.getValue());
  }

  @Test
  void readerParsesHandMadeFiles() throws IOException {
    Random rnd = new Random(5);
    byte[] data = new byte[4 * 53 + 8];
    rnd.nextBytes(data);
    String header =
        "{\"__metadata__\":{\"k\":\"v\"},\"w\":{\"dtype\":\"F32\",\"shape\":[53],"
            + "\"data_offsets\":[0,212]},\"s\":{\"dtype\":\"I64\",\"shape\":[],"
            + "\"data_offsets\":[212,220]}}";
    Path f = handMade(header, data);
    try (SafetensorsReader r = SafetensorsReader.open(f)) {
      assertEquals(Map.of("k", "v"), r.metadata());
      TensorEntry w = r.tensor("w");
      assertEquals(TensorDtype.F32, w.dtype());
      assertArrayEquals(new long[] {53}, w.shape());
      assertEquals(1, r.tensor("s").numel());
      ByteBuffer got = ByteBuffer.allocate(212);
      r.read(w, 0, got);
      assertArrayEquals(java.util.Arrays.copyOf(data, 212), got.array());
      ByteBuffer piece = ByteBuffer.allocate(8);
      r.read(r.tensor("s"), 0, piece);
      assertArrayEquals(java.util.Arrays.copyOfRange(data, 212, 220), piece.array());
    }
  }

  @Test
  void readerRejectsMalformedFiles() throws IOException {
    byte[] data = new byte[8];
    String ok = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    Path truncated = handMade(ok, new byte[7]);
    assertMessage(truncated, "is truncated");
    Path gap = handMade("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data);
    assertMessage(gap, "gap or overlap");
    Path wrongSize =
        handMade("{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", data);
    assertMessage(wrongSize, "need 12");
    Path notJson = handMade("{\"x\":", data);
    assertMessage(notJson, "not valid JSON");
    Path tiny = tmp.resolve("tiny");
    Files.write(tiny, new byte[3]);
    assertMessage(tiny, "shorter than the 8-byte header length");
  }

  private static void assertMessage(Path f, String part) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> SafetensorsReader.open(f).close());
    assertTrue(e.getMessage().contains(part), e.getMessage());
    assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
  }

  private int files;

  private Path handMade(String header, byte[] data) throws IOException {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer out = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    out.putLong(h.length).put(h).put(data);
    Path f = tmp.resolve("hand" + files++ + ".safetensors");
    Files.write(f, out.array());
    return f;
  }
}
