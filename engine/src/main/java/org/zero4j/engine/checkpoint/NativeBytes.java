package org.zero4j.engine.checkpoint;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Tensor;

/**
 * Byte views of a tensor's memory, so file I/O reads and writes it in place with no copy. The
 * tensor must be a contiguous CPU tensor and must outlive the view.
 */
final class NativeBytes {

  private NativeBytes() {}

  /** A little-endian direct buffer over bytes {@code [offset, offset + length)} of {@code t}. */
  static ByteBuffer window(Tensor t, long offset, int length) {
    if (!t.is_contiguous()) {
      throw new IllegalStateException("checkpoint I/O needs contiguous tensors");
    }
    long nbytes = t.nbytes();
    if (offset < 0 || length < 0 || offset + length > nbytes) {
      throw new IllegalStateException(
          "byte window [" + offset + ", " + (offset + length) + ") outside a tensor of " + nbytes);
    }
    BytePointer p = new BytePointer(t.data_ptr());
    p.capacity(nbytes);
    p.position(offset).limit(offset + length);
    // JavaCPP's buffer spans [0, limit) of the pointer with its position at offset; slice it so
    // the window starts at index 0 and flip()/rewind() stay inside it.
    ByteBuffer b = p.asByteBuffer().slice().order(ByteOrder.LITTLE_ENDIAN);
    if (b.capacity() != length) {
      throw new IllegalStateException(
          "byte window of " + b.capacity() + " bytes, expected " + length);
    }
    return b;
  }
}
