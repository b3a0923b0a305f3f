package org.zero4j.zero;

/**
 * What one optimizer step did.
 *
 * @param skipped true if the gradients overflowed (inf or NaN) and parameters were left unchanged
 * @param gradNorm the global L2 norm of the averaged, unscaled gradients before clipping (inf or
 *     NaN on overflow)
 * @param clipCoefficient the factor the gradients were multiplied by (1 when not clipped)
 */
public record StepResult(boolean skipped, double gradNorm, double clipCoefficient) {}
