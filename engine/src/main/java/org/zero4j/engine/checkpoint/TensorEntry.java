package org.zero4j.engine.checkpoint;

import java.util.Arrays;

/**
 * One tensor of a safetensors file: its name, dtype, shape and where its bytes lie, as absolute
 * file offsets {@code [begin, end)} (the header's {@code data_offsets} plus the header length).
 */
public record TensorEntry(String name, TensorDtype dtype, long[] shape, long begin, long end) {

  /** A tensor to be written: offsets are assigned by the writer. */
  public static TensorEntry of(String name, TensorDtype dtype, long... shape) {
    return new TensorEntry(name, dtype, shape.clone(), 0, 0);
  }

  /** Number of elements: the product of the shape (1 for a scalar). */
  public long numel() {
    long n = 1;
    for (long d : shape) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  /** Bytes of data. */
  public long byteSize() {
    return Math.multiplyExact(numel(), dtype.bytes());
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorEntry t
        && name.equals(t.name)
        && dtype == t.dtype
        && Arrays.equals(shape, t.shape)
        && begin == t.begin
        && end == t.end;
  }

  @Override
  public int hashCode() {
    return name.hashCode() * 31 + Arrays.hashCode(shape);
  }

  @Override
  public String toString() {
    return name + " " + dtype + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
  }
}
