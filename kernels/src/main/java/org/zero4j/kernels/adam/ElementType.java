package org.zero4j.kernels.adam;

import org.bytedeco.pytorch.global.torch.ScalarType;

/** Element types of the flat buffers the CPU Adam kernel reads and writes. */
public enum ElementType {
  /** IEEE binary32. */
  FP32(4, ScalarType.Float),
  /** bfloat16: the upper half of a binary32. */
  BF16(2, ScalarType.BFloat16),
  /** IEEE binary16. */
  FP16(2, ScalarType.Half);

  private final int bytes;
  private final ScalarType scalarType;

  ElementType(int bytes, ScalarType scalarType) {
    this.bytes = bytes;
    this.scalarType = scalarType;
  }

  /** Bytes per element. */
  public int bytes() {
    return bytes;
  }

  /** The code of this type in the native kernel (GradType and CopyType in adam_scalar.h). */
  int code() {
    return ordinal();
  }

  /** The libtorch dtype with the same layout. */
  public ScalarType scalarType() {
    return scalarType;
  }

  /**
   * The element type of a libtorch dtype.
   *
   * @throws IllegalArgumentException for any dtype other than float32, bfloat16 and float16
   */
  public static ElementType of(ScalarType type) {
    // JavaCPP returns enums from native code as fresh instances; intern() gives the constant.
    ScalarType canonical = type.intern();
    for (ElementType e : values()) {
      if (e.scalarType == canonical) {
        return e;
      }
    }
    throw new IllegalArgumentException(
        "tensor dtype "
            + type
            + " is not supported by the CPU Adam kernel; use float32, bfloat16 or float16");
  }
}
