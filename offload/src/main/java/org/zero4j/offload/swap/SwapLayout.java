package org.zero4j.offload.swap;

import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.kernels.host.HugePages;

/**
 * Block alignment for swap I/O. {@link AsyncSwapper} moves a request with {@code O_DIRECT} (past
 * the page cache) only where the file offset, the buffer address and the length are multiples of
 * the filesystem's block; the rest of a request goes through the page cache. A file layout whose
 * regions start at multiples of {@link #BLOCK} and a staging buffer from {@link #alignedEmpty} make
 * all of each region but its last partial block direct.
 *
 * <p>Note [why 4096]: {@code O_DIRECT} needs the device's logical block size (512 or 4096 bytes)
 * and Java's direct channel checks the filesystem's fragment size ({@code f_frsize}, 4096 on ext4,
 * xfs and tmpfs). Aligning layouts to 4096 satisfies both on every common filesystem; a filesystem
 * with a larger block still swaps correctly, with more of each region through the page cache.
 */
public final class SwapLayout {

  /** Bytes that layout offsets and staging buffers are aligned to. */
  public static final int BLOCK = 4096;

  private SwapLayout() {}

  /** {@code bytes} rounded up to a multiple of {@link #BLOCK}. */
  public static long align(long bytes) {
    if (bytes < 0) {
      throw new IllegalArgumentException("a swap region size must be >= 0, got " + bytes);
    }
    return (bytes + BLOCK - 1) / BLOCK * BLOCK;
  }

  /**
   * A new uninitialised contiguous 1-D CPU tensor of {@code numel} elements of {@code dtype} whose
   * data starts at a multiple of {@link #BLOCK}. A tensor of at least {@link HugePages#SIZE} bytes
   * starts on a huge-page boundary instead, and its whole huge pages are advised to the kernel as
   * such (Note [huge pages for swap buffers] in {@link HugePages}). It is a view into a slightly
   * larger allocation and its only owner: closing it frees the memory.
   */
  @SuppressWarnings("try")
  public static Tensor alignedEmpty(long numel, torch.ScalarType dtype) {
    if (numel < 0) {
      throw new IllegalArgumentException("a staging buffer needs >= 0 elements, got " + numel);
    }
    try (TensorOptions options = new TensorOptions(dtype);
        Tensor probe = torch.empty(new long[] {0}, options, new MemoryFormatOptional())) {
      int itemSize = (int) probe.element_size();
      if (BLOCK % itemSize != 0) {
        throw new IllegalArgumentException(
            "elements of " + itemSize + " bytes cannot be aligned to " + BLOCK + " bytes");
      }
      long bytes = numel * itemSize;
      long alignment = bytes >= HugePages.SIZE ? HugePages.SIZE : BLOCK;
      long slack = alignment / itemSize;
      try (Tensor base =
          torch.empty(new long[] {numel + slack}, options, new MemoryFormatOptional())) {
        long misalignment = address(base) % alignment;
        if (misalignment % itemSize != 0) {
          throw new IllegalStateException(
              "libtorch returned memory at address "
                  + address(base)
                  + ", not a multiple of the element size "
                  + itemSize);
        }
        long skip = (alignment - misalignment) % alignment / itemSize;
        // the view shares the allocation's storage and keeps it alive after base is closed
        Tensor view = base.narrow(0, skip, numel);
        if (alignment == HugePages.SIZE) {
          // whole huge pages only: a partial one would fault in 2 MiB for the tail's few bytes
          HugePages.advise(address(view), bytes / HugePages.SIZE * HugePages.SIZE);
        }
        return view;
      }
    }
  }

  /** The address of a tensor's first element. */
  static long address(Tensor t) {
    try (Pointer p = t.data_ptr()) {
      return p.address();
    }
  }
}
