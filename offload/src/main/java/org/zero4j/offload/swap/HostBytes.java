package org.zero4j.offload.swap;

import java.nio.ByteBuffer;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Tensor;

/** The memory of a contiguous CPU tensor seen as a direct {@link ByteBuffer}, for swap I/O. */
public final class HostBytes {

  private HostBytes() {}

  /**
   * A view of the tensor's bytes, positioned at 0. The tensor must stay open while the view is
   * used.
   *
   * @throws IllegalArgumentException if the tensor is not a contiguous CPU tensor under 2 GiB
   */
  public static ByteBuffer of(Tensor t) {
    if (!t.is_cpu() || !t.is_contiguous()) {
      throw new IllegalArgumentException("swap I/O needs a contiguous CPU tensor");
    }
    long n = t.nbytes();
    if (n > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          "swap I/O moves at most 2 GiB per call, got a tensor of " + n + " bytes");
    }
    if (n == 0) {
      return ByteBuffer.allocateDirect(0);
    }
    return new BytePointer(t.data_ptr()).capacity(n).limit(n).asByteBuffer();
  }
}
