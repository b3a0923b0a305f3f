package org.zero4j.zero;

import org.bytedeco.pytorch.LongArrayRefOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The gradient-norm arithmetic every ZeRO stage shares: a shard's sum of squares in fp64, and
 * DeepSpeed's clipping coefficient from the global norm.
 */
public final class GradientNorm {

  private GradientNorm() {}

  /** The sum of squares of {@code grad32}, accumulated in fp64 (libtorch's fp64 vector norm). */
  public static double sumOfSquares(Tensor grad32) {
    try (Scalar two = new Scalar(2.0);
        LongArrayRefOptional all = new LongArrayRefOptional();
        ScalarTypeOptional fp64 = new ScalarTypeOptional(torch.ScalarType.Double);
        Tensor n = torch.linalg_vector_norm(grad32, two, all, false, fp64)) {
      double local = n.item_double();
      return local * local;
    }
  }

  /**
   * The factor gradients are multiplied by for {@code gradient_clipping}: {@code clipNorm / (norm +
   * 1e-6)} when that is below 1, else 1 (also for {@code clipNorm} 0, no clipping), as DeepSpeed
   * computes it.
   */
  public static double clipCoefficient(double norm, double clipNorm) {
    if (clipNorm <= 0) {
      return 1.0;
    }
    double c = clipNorm / (norm + 1e-6);
    return c < 1 ? c : 1.0;
  }
}
