package org.zero4j.offload.swap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zero4j.offload.AioConfig;

/**
 * Round trips through the swapper against the bytes written, in every submission mode, and a full
 * disk.
 */
class AsyncSwapperTest {

  @TempDir Path dir;

  /** Every submission mode: batched or single_submit, with or without overlap_events. */
  @ParameterizedTest(name = "single_submit {0}, overlap_events {1}")
  @CsvSource({"false, true", "true, true", "false, false", "true, false"})
  void concurrentOddSizedWritesReadBackExactly(boolean singleSubmit, boolean overlapEvents)
      throws Exception {
    // block size and sizes chosen so that requests straddle blocks and end mid-block
    AioConfig aio = new AioConfig(4099, 3, 3, singleSubmit, overlapEvents, false);
    Random rnd = new Random(7);
    int[] sizes = {1, 4098, 4099, 4100, 70_001, 123_457};
    long total = 0;
    for (int s : sizes) {
      total += s;
    }
    SwapDirectory d =
        SwapDirectory.open("nvme_path", dir.toString(), total, FreeSpaceProbe.FILESYSTEM);
    try (SwapFile f = SwapFile.create(d, "test", 0, total);
        AsyncSwapper swapper = new AsyncSwapper(aio)) {
      List<byte[]> data = new ArrayList<>();
      List<SwapOp> ops = new ArrayList<>();
      long pos = 0;
      for (int s : sizes) {
        byte[] b = new byte[s];
        rnd.nextBytes(b);
        data.add(b);
        ByteBuffer src = ByteBuffer.allocateDirect(s).put(b).flip();
        ops.add(swapper.write(f, pos, src));
        pos += s;
      }
      ops.forEach(SwapOp::await);
      f.flush();
      pos = 0;
      List<ByteBuffer> back = new ArrayList<>();
      ops.clear();
      for (int s : sizes) {
        ByteBuffer dst = ByteBuffer.allocateDirect(s);
        back.add(dst);
        ops.add(swapper.read(f, pos, dst));
        pos += s;
      }
      ops.forEach(SwapOp::await);
      for (int i = 0; i < sizes.length; i++) {
        byte[] got = new byte[sizes[i]];
        back.get(i).get(got);
        assertArrayEquals(data.get(i), got, "region " + i);
      }
    }
    try (var left = Files.list(dir)) {
      assertTrue(left.findAny().isEmpty(), "close() deletes the swap file");
    }
  }

  @Test
  void aFullDiskIsAClearErrorNotAHang() throws Exception {
    Path full = Path.of("/dev/full");
    if (!Files.isWritable(full)) {
      return; // no /dev/full on this system
    }
    try (SwapFile f = SwapFile.borrow(full, 1 << 20);
        AsyncSwapper swapper = new AsyncSwapper(new AioConfig(4096, 2, 2, false, true, false))) {
      SwapOp op = swapper.write(f, 0, ByteBuffer.allocateDirect(100_000));
      SwapFailure e = assertThrows(SwapFailure.class, op::await);
      assertTrue(e.getMessage().contains("/dev/full"), e.getMessage());
      assertTrue(e.getMessage().contains("No space left on device"), e.getMessage());
      assertTrue(e.getMessage().contains("the disk under nvme_path is full"), e.getMessage());
    }
  }

  @Test
  void requestsOutsideTheFileAreRefused() {
    SwapDirectory d = SwapDirectory.open("nvme_path", dir.toString(), 8, FreeSpaceProbe.FILESYSTEM);
    try (SwapFile f = SwapFile.create(d, "test", 0, 8);
        AsyncSwapper swapper = new AsyncSwapper(AioConfig.DEFAULT)) {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () -> swapper.read(f, 4, ByteBuffer.allocateDirect(8)));
      assertTrue(e.getMessage().contains("outside swap file"), e.getMessage());
    }
  }
}
