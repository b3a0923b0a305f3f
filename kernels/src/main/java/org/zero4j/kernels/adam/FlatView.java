package org.zero4j.kernels.adam;

import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Tensor;

/**
 * A flat run of {@code numel} elements of one {@link ElementType} at a native address: the data of
 * a contiguous CPU tensor, or any native memory. A view owns nothing; it keeps a reference to the
 * object that owns the memory (the tensor or pointer it came from) so that the memory outlives the
 * view as long as the view is reachable.
 */
public final class FlatView {
  private final long address;
  private final long numel;
  private final ElementType type;
  private final Object owner;

  private FlatView(long address, long numel, ElementType type, Object owner) {
    this.address = address;
    this.numel = numel;
    this.type = type;
    this.owner = owner;
  }

  /**
   * The data of a contiguous CPU tensor of dtype float32, bfloat16 or float16.
   *
   * @throws IllegalArgumentException if the tensor is on another device, not contiguous, or of
   *     another dtype
   */
  public static FlatView of(Tensor tensor) {
    if (!tensor.is_cpu()) {
      throw new IllegalArgumentException(
          "the CPU Adam kernel needs CPU tensors, got one on " + tensor.device().str().getString());
    }
    if (!tensor.is_contiguous()) {
      throw new IllegalArgumentException(
          "the CPU Adam kernel needs contiguous tensors; call .contiguous() first");
    }
    ElementType type = ElementType.of(tensor.scalar_type());
    return new FlatView(tensor.data_ptr().address(), tensor.numel(), type, tensor);
  }

  /**
   * {@code numel} elements of {@code type} starting at the pointer's address plus its position (in
   * elements of the pointer's own type, as JavaCPP defines it).
   *
   * @throws IllegalArgumentException if the pointer is null or numel is negative
   */
  public static FlatView of(Pointer pointer, long numel, ElementType type) {
    if (pointer == null || pointer.isNull()) {
      throw new IllegalArgumentException("the pointer of a FlatView must not be null");
    }
    if (numel < 0) {
      throw new IllegalArgumentException("numel of a FlatView must be >= 0, got " + numel);
    }
    long address = pointer.address() + pointer.position() * pointer.sizeof();
    return new FlatView(address, numel, type, pointer);
  }

  /** The native address of the first element. */
  public long address() {
    return address;
  }

  /** The number of elements. */
  public long numel() {
    return numel;
  }

  /** The element type. */
  public ElementType type() {
    return type;
  }

  /** The tensor or pointer that owns the memory. */
  Object owner() {
    return owner;
  }

  @Override
  public String toString() {
    return "FlatView[" + type + " x " + numel + " @ 0x" + Long.toHexString(address) + "]";
  }
}
