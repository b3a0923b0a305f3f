package org.zero4j.offload.swap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.zero4j.offload.AioConfig;

/**
 * Swapping with {@code O_DIRECT} and through the page cache gives the same bytes, on the test's
 * temporary directory and on tmpfs ({@code /dev/shm}) where there is one, for block-aligned and
 * misaligned buffers, block-aligned layouts with odd-length tails, and unaligned ranges that mix
 * the two descriptors on one block. Every check compares against the random bytes written and
 * against the file's contents read back independently with {@link Files#readAllBytes}.
 */
class DirectSwapTest {

  @TempDir static Path tmp;

  private static final AioConfig AIO = new AioConfig(12288, 4, 3, false, true, false);

  static Stream<Arguments> placesAndModes() {
    List<Arguments> all = new ArrayList<>();
    List<Path> dirs = new ArrayList<>(List.of(tmp));
    Path shm = Path.of("/dev/shm");
    if (Files.isDirectory(shm) && Files.isWritable(shm)) {
      dirs.add(shm);
    }
    for (Path d : dirs) {
      all.add(Arguments.of(d, true));
      all.add(Arguments.of(d, false));
    }
    return all.stream();
  }

  private static SwapFile file(Path dir, long size, boolean tryDirect) {
    SwapDirectory d =
        SwapDirectory.open("nvme_path", dir.toString(), size, FreeSpaceProbe.FILESYSTEM);
    SwapFile f = SwapFile.create(d, "direct-test", 0, size, tryDirect);
    assertEquals(tryDirect && DirectIo.block(d.path()) > 0, f.direct(), "direct on " + dir);
    return f;
  }

  /** A direct buffer of {@code n} bytes whose address is {@code shift} past a block boundary. */
  private static ByteBuffer buffer(int n, int shift) {
    ByteBuffer b =
        ByteBuffer.allocateDirect(n + 3 * SwapLayout.BLOCK).alignedSlice(SwapLayout.BLOCK);
    return b.position(shift).limit(shift + n).slice();
  }

  private static byte[] random(Random rnd, int n) {
    byte[] b = new byte[n];
    rnd.nextBytes(b);
    return b;
  }

  @ParameterizedTest(name = "{0}, try O_DIRECT {1}")
  @MethodSource("placesAndModes")
  void alignedLayoutsWithOddTailsRoundTrip(Path dir, boolean tryDirect) throws IOException {
    Random rnd = new Random(11);
    int[] sizes = {1, 4095, 4096, 4097, 12_289, 3 * 12288, 100_003, 1 << 20};
    long[] offsets = new long[sizes.length];
    long size = 0;
    for (int i = 0; i < sizes.length; i++) {
      offsets[i] = size;
      size += SwapLayout.align(sizes[i]);
    }
    try (SwapFile f = file(dir, size, tryDirect);
        AsyncSwapper swapper = new AsyncSwapper(AIO)) {
      byte[] expected = new byte[(int) size];
      List<SwapOp> ops = new ArrayList<>();
      for (int i = 0; i < sizes.length; i++) {
        byte[] data = random(rnd, sizes[i]);
        System.arraycopy(data, 0, expected, (int) offsets[i], data.length);
        ops.add(swapper.write(f, offsets[i], buffer(sizes[i], 0).put(data).flip()));
      }
      ops.forEach(SwapOp::await);
      f.flush();
      assertArrayEquals(expected, Files.readAllBytes(f.path()), "file contents");
      // read back into aligned buffers and into buffers 4 bytes off a block (buffered whole)
      for (int shift : new int[] {0, 4}) {
        List<ByteBuffer> back = new ArrayList<>();
        ops.clear();
        for (int i = 0; i < sizes.length; i++) {
          ByteBuffer dst = buffer(sizes[i], shift);
          back.add(dst);
          ops.add(swapper.read(f, offsets[i], dst));
        }
        ops.forEach(SwapOp::await);
        for (int i = 0; i < sizes.length; i++) {
          byte[] got = new byte[sizes[i]];
          back.get(i).get(got);
          int from = (int) offsets[i];
          assertArrayEquals(
              Arrays.copyOfRange(expected, from, from + sizes[i]),
              got,
              "region " + i + " of " + sizes[i] + " bytes, buffer shift " + shift);
        }
      }
    }
  }

  /**
   * Sub-ranges written at odd offsets go partly through the page cache and partly direct (when the
   * buffer sits at the same place in its block as the file offset); whole-region reads afterwards
   * must see every one of them.
   */
  @ParameterizedTest(name = "{0}, try O_DIRECT {1}")
  @MethodSource("placesAndModes")
  void unalignedOverwritesAreSeenByAlignedReads(Path dir, boolean tryDirect) throws IOException {
    Random rnd = new Random(5);
    int size = 9 * SwapLayout.BLOCK + 123;
    try (SwapFile f = file(dir, size, tryDirect);
        AsyncSwapper swapper = new AsyncSwapper(AIO)) {
      byte[] expected = random(rnd, size);
      swapper.write(f, 0, buffer(size, 0).put(expected).flip()).await();
      for (int round = 0; round < 40; round++) {
        int from = rnd.nextInt(size);
        int len = 1 + rnd.nextInt(Math.min(size - from, 3 * SwapLayout.BLOCK));
        byte[] patch = random(rnd, len);
        System.arraycopy(patch, 0, expected, from, len);
        // shift == from % BLOCK puts whole blocks on the direct path; other shifts stay buffered
        int shift = round % 2 == 0 ? from % SwapLayout.BLOCK : (from + 8) % SwapLayout.BLOCK;
        swapper.write(f, from, buffer(len, shift).put(patch).flip()).await();
        ByteBuffer whole = buffer(size, 0);
        swapper.read(f, 0, whole).await();
        byte[] got = new byte[size];
        whole.get(got);
        assertArrayEquals(expected, got, "after overwrite " + round + " of [" + from + ", +" + len);
      }
      f.flush();
      assertArrayEquals(expected, Files.readAllBytes(f.path()), "file contents");
    }
  }

  /**
   * Direct writes leave nothing in the page cache, buffered ones leave every page there ({@code
   * mincore} through {@link MappedByteBuffer#isLoaded}). Skipped where the filesystem has no
   * O_DIRECT or is tmpfs, whose files are page-cache pages whatever the descriptor.
   */
  @Test
  void directWritesBypassThePageCache() throws IOException {
    Assumptions.assumeFalse(Files.getFileStore(tmp).type().equals("tmpfs"), "tmpfs caches all");
    int size = 64 * SwapLayout.BLOCK;
    for (boolean tryDirect : new boolean[] {true, false}) {
      try (SwapFile f = file(tmp, size, tryDirect);
          AsyncSwapper swapper = new AsyncSwapper(AIO)) {
        Assumptions.assumeTrue(f.direct() || !tryDirect, "the filesystem takes O_DIRECT");
        swapper.write(f, 0, buffer(size, 0).put(random(new Random(3), size)).flip()).await();
        f.flush();
        try (FileChannel ch = FileChannel.open(f.path(), StandardOpenOption.READ)) {
          MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
          assertEquals(
              !tryDirect, map.isLoaded(), "pages cached after a write, O_DIRECT " + tryDirect);
        }
      }
    }
  }

  @Test
  void aDeviceThatRefusesODirectIsSwappedThroughThePageCache() throws IOException {
    Path full = Path.of("/dev/full");
    if (!Files.isWritable(full)) {
      return; // no /dev/full on this system
    }
    try (SwapFile f = SwapFile.borrow(full, 1 << 20)) {
      assertFalse(f.direct(), "/dev/full refuses O_DIRECT (EINVAL)");
    }
  }
}
