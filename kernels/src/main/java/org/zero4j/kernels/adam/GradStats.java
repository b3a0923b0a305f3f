package org.zero4j.kernels.adam;

/**
 * What one pass learned about the gradients it read, after unscaling.
 *
 * @param sumOfSquares the sum over elements of {@code (grad * (1 / gradScale))^2}, each unscaled
 *     gradient rounded to fp32 and squared and summed in fp64; infinite or NaN exactly when {@code
 *     overflow}
 * @param overflow true when some unscaled gradient is inf or NaN
 */
public record GradStats(double sumOfSquares, boolean overflow) {

  // Note [overflow from the sum]: a finite fp32 value squares to at most ~1.2e77 in fp64 and a
  // sum of fewer than 2^63 such squares stays finite, while an inf or NaN gradient makes the sum
  // inf or NaN. So "the fp64 sum of squares is not finite" is exactly "some gradient is not
  // finite", and the kernel detects overflow without a separate compare per element.
  static GradStats ofSumOfSquares(double sumOfSquares) {
    return new GradStats(sumOfSquares, !Double.isFinite(sumOfSquares));
  }

  /** The L2 norm of the unscaled gradients: {@code sqrt(sumOfSquares)}. */
  public double norm() {
    return Math.sqrt(sumOfSquares);
  }
}
