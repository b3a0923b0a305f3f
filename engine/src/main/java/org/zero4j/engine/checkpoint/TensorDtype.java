package org.zero4j.engine.checkpoint;

import java.util.Locale;

/** The safetensors element types zero4j writes and reads, with their sizes in bytes. */
public enum TensorDtype {
  F32(4),
  BF16(2),
  F16(2),
  F64(8),
  I64(8),
  U8(1);

  private final int bytes;

  TensorDtype(int bytes) {
    this.bytes = bytes;
  }

  /** Bytes per element. */
  public int bytes() {
    return bytes;
  }

  /** The dtype named {@code name} in a safetensors header (for example "F32"). */
  static TensorDtype parse(String name, String file) {
    try {
      return valueOf(name.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          file + ": dtype \"" + name + "\" is not one zero4j reads (F32, BF16, F16, F64, I64, U8)",
          e);
    }
  }
}
