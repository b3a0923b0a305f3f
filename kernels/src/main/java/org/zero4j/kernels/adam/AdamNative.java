package org.zero4j.kernels.adam;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Namespace;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.pytorch.global.torch;

/**
 * JNI binding of {@code src/main/cpp/zero4j/cpu_adam.h}, compiled from source by the JavaCPP Maven
 * plugin. Addresses are raw native addresses; {@link CpuAdam} validates every argument first.
 */
@Platform(value = "linux-x86_64", include = "zero4j/cpu_adam.h")
@Namespace("zero4j")
final class AdamNative {

  // Note [libgomp]: the kernel links libgomp.so.1. Loading libtorch first puts the libgomp that
  // ships inside the pytorch jar into the process, so the kernel binds to that one copy and needs
  // no system libgomp, and the two libraries share one OpenMP runtime.
  static {
    Loader.load(torch.class);
    Loader.load();
  }

  private AdamNative() {}

  @Name("isa_supported")
  static native boolean isaSupported(int isa);

  @Name("compiled_variants")
  static native @Cast("const char*") String compiledVariants();

  @Name("adam_step")
  static native double adamStep(
      int isa,
      int threads,
      long n,
      long param,
      long expAvg,
      long expAvgSq,
      long grad,
      int gradType,
      long copyOut,
      int copyType,
      float[] coeffs,
      int decayMode);

  @Name("grad_sum_squares")
  static native double gradSumSquares(
      int isa, int threads, long n, long grad, int gradType, float invScale);
}
