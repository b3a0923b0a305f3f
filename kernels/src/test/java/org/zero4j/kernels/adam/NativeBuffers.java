package org.zero4j.kernels.adam;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.ShortPointer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Copies between Java arrays and CPU tensors, for tests. */
final class NativeBuffers {
  private NativeBuffers() {}

  static Tensor floats(float[] data) {
    Tensor t = torch.empty(data.length);
    new FloatPointer(t.data_ptr()).put(data);
    return t;
  }

  static Tensor shorts(short[] data, ScalarType type) {
    Tensor t = torch.empty(data.length).to(type);
    new ShortPointer(t.data_ptr()).put(data);
    return t;
  }

  static Tensor filled(long n, ScalarType type, double value) {
    Tensor t = torch.empty(n).to(type);
    t.fill_(new Scalar(value));
    return t;
  }

  static float[] readFloats(Tensor t) {
    float[] out = new float[(int) t.numel()];
    new FloatPointer(t.data_ptr()).get(out);
    return out;
  }

  static double[] readDoubles(Tensor t) {
    double[] out = new double[(int) t.numel()];
    new DoublePointer(t.data_ptr()).get(out);
    return out;
  }

  static short[] readShorts(Tensor t) {
    short[] out = new short[(int) t.numel()];
    new ShortPointer(t.data_ptr()).get(out);
    return out;
  }

  /** A view of the first n elements of a (possibly longer) contiguous tensor. */
  static FlatView prefix(Tensor t, long n) {
    return FlatView.of(t.data_ptr(), n, ElementType.of(t.scalar_type()));
  }
}
