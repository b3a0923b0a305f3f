package org.zero4j.offload.swap;

import java.nio.ByteBuffer;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * One staging buffer of a {@link SwapBufferPool}: a contiguous fp32 CPU tensor that the optimizer
 * computes on, seen as a direct {@link ByteBuffer} that swap reads fill and swap writes drain. Its
 * data starts at a multiple of {@link SwapLayout#BLOCK}, so that swap I/O on block-aligned file
 * regions bypasses the page cache. Owned by its pool, which frees it.
 */
public final class SwapBuffer {

  private final Tensor tensor;
  private final ByteBuffer bytes;
  private final long numel;

  SwapBuffer(long numel) {
    if (numel * Float.BYTES > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          "a swap buffer holds at most "
              + (Integer.MAX_VALUE / Float.BYTES)
              + " fp32 elements (2 GiB), got "
              + numel
              + "; lower sub_group_size");
    }
    this.numel = numel;
    this.tensor = SwapLayout.alignedEmpty(numel, torch.ScalarType.Float);
    int n = (int) (numel * Float.BYTES);
    this.bytes = new BytePointer(tensor.data_ptr()).capacity(n).limit(n).asByteBuffer();
  }

  /** Elements this buffer can hold. */
  public long capacity() {
    return numel;
  }

  /** The first {@code n} elements as a tensor view (close it after use). */
  public Tensor floats(long n) {
    return tensor.narrow(0, 0, n);
  }

  /** The bytes of the first {@code n} elements, positioned at 0 (a fresh view each call). */
  public ByteBuffer bytes(long n) {
    ByteBuffer b = bytes.duplicate();
    b.position(0).limit((int) (n * Float.BYTES));
    return b;
  }

  long byteSize() {
    return numel * Float.BYTES;
  }

  void free() {
    tensor.close();
  }
}
