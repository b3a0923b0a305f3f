package org.zero4j.zero;

import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The floating-point format of the model's working copy (params and grads) or of communication.
 *
 * <p>In FP16 and BF16 mixed precision the master weights and Adam moments stay FP32; only the
 * working copy, its gradients and (by default) the reduced gradients are 16-bit.
 */
public enum Precision {
  FP32(ScalarType.Float, 4),
  FP16(ScalarType.Half, 2),
  BF16(ScalarType.BFloat16, 2);

  private final ScalarType scalarType;
  private final int bytes;

  Precision(ScalarType scalarType, int bytes) {
    this.scalarType = scalarType;
    this.bytes = bytes;
  }

  /** The libtorch scalar type. */
  public ScalarType scalarType() {
    return scalarType;
  }

  // Note [allocate in the dtype]: torch.zeros(n).to(dtype) makes an fp32 temporary whose Java
  // handle is never closed, so its native memory lives until a garbage collection (which native
  // memory does not trigger): twice a 16-bit buffer, per call. These allocate the dtype directly,
  // and close their options objects (native too) rather than leave them to the collector.

  /** A new 1-D tensor of {@code numel} zeros of this dtype. */
  public Tensor zeros(long numel) {
    try (TensorOptions o = new TensorOptions(scalarType)) {
      return torch.zeros(new long[] {numel}, o);
    }
  }

  /** A new uninitialised 1-D tensor of {@code numel} elements of this dtype. */
  public Tensor empty(long numel) {
    try (TensorOptions o = new TensorOptions(scalarType);
        MemoryFormatOptional f = new MemoryFormatOptional()) {
      return torch.empty(new long[] {numel}, o, f);
    }
  }

  /** Bytes per element. */
  public int bytes() {
    return bytes;
  }

  /**
   * Parses DeepSpeed's spelling of a data type ({@code fp32}, {@code fp16}, {@code bf16}, also
   * {@code float32}, {@code float16}, {@code bfloat16}), naming {@code key} in the error.
   */
  public static Precision parse(String key, String value) {
    if (value != null) {
      switch (value.toLowerCase(java.util.Locale.ROOT)) {
        case "fp32", "float32", "float" -> {
          return FP32;
        }
        case "fp16", "float16", "half" -> {
          return FP16;
        }
        case "bf16", "bfloat16" -> {
          return BF16;
        }
        default -> {}
      }
    }
    throw new IllegalArgumentException(
        key + " must be one of fp32, fp16, bf16, got \"" + value + "\"");
  }
}
