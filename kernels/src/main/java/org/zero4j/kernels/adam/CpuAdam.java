package org.zero4j.kernels.adam;

import java.lang.ref.Reference;
import org.bytedeco.pytorch.Tensor;

/**
 * The fused CPU Adam/AdamW kernel: one pass over flat buffers that updates fp32 master parameters
 * and both moments in place, with DeepSpeed's CPU Adam semantics.
 *
 * <p><b>What one {@link #step} does, per element</b>, in fp32 and in this order: unscale the
 * gradient ({@code g *= 1/gradScale}; bf16 and fp16 gradients are widened exactly first); add its
 * square to an fp64 sum; for Adam with weight decay add {@code weightDecay * p} to {@code g};
 * {@code m = beta1*m + (1-beta1)*g}; {@code v = beta2*v + (1-beta2)*g*g}; {@code denom = sqrt(v) *
 * (1/sqrt(1-beta2^t)) + eps}; for AdamW with weight decay {@code p += -lr*weightDecay * p}; {@code
 * p += (-lr/(1-beta1^t)) * (m/denom)}; and optionally store {@code p} rounded to nearest even into
 * a bf16 or fp16 buffer. Without bias correction both correction factors are 1. Weight decay
 * applies only when it is positive, as in DeepSpeed.
 *
 * <p><b>Memory passes.</b> {@link #step} touches every byte once: it reads param, exp_avg and
 * exp_avg_sq (4 B each) and the gradient (4 or 2 B), and writes the three state buffers (4 B each)
 * and the optional copy-out (2 B): 28 bytes per parameter for fp32 gradients and no copy-out.
 * {@link #gradStats} reads the gradients once and writes nothing. A caller that needs the norm or
 * the overflow flag before updating (gradient clipping, or skipping the step on overflow) runs
 * {@link #gradStats} and then {@link #step} with the clip folded into {@code gradScale}: one extra
 * read of the gradients. The overflow flag and the sum that {@link #step} returns are those of the
 * gradients it consumed; by then the state is updated, and non-finite gradients leave non-finite
 * state behind them.
 *
 * <p><b>Paths and threads.</b> The AVX-512, AVX2 and scalar paths perform identical IEEE fp32
 * operations and produce bit-identical state and copy-out; only the fp64 sum of squares may differ
 * in its last bits. The path is {@link Isa#selected()} unless given. Work is split into tiles of
 * 16384 elements handed to {@code threads} OpenMP threads in contiguous blocks, so each thread
 * streams its own region of every buffer; an input of one tile or less runs on the calling thread.
 *
 * <p>An instance is immutable and may be shared between threads; concurrent steps on disjoint
 * buffers are safe.
 */
public final class CpuAdam implements FlatAdam {
  private final int threads;
  private final Isa isa;

  /** A kernel with {@code threads} threads on the path {@link Isa#selected()}. */
  public CpuAdam(int threads) {
    this(threads, Isa.selected());
  }

  /**
   * A kernel with {@code threads} threads on a given path.
   *
   * @throws IllegalArgumentException if threads is below 1 or this CPU cannot run the path
   */
  public CpuAdam(int threads, Isa isa) {
    if (threads < 1) {
      throw new IllegalArgumentException("CPU Adam threads must be >= 1, got " + threads);
    }
    if (!isa.supported()) {
      throw new IllegalArgumentException(
          "CPU Adam path "
              + isa.label()
              + " is not supported by this CPU; supported here: "
              + Isa.supportedPaths());
    }
    this.threads = threads;
    this.isa = isa;
  }

  /** The number of threads a step uses. */
  public int threads() {
    return threads;
  }

  /** The instruction-set path this kernel runs. */
  public Isa isa() {
    return isa;
  }

  /**
   * One step without copy-out; see {@link #step(FlatState, FlatView, AdamHyperparams, long, double,
   * FlatView)}.
   */
  public GradStats step(
      FlatState state, FlatView grad, AdamHyperparams hp, long step, double gradScale) {
    return step(state, grad, hp, step, gradScale, null);
  }

  /**
   * One fused step over the whole partition.
   *
   * @param state the fp32 param, exp_avg and exp_avg_sq, updated in place
   * @param grad the gradients (fp32, bf16 or fp16), same size; only read
   * @param hp the hyperparameters of this step
   * @param step the 1-based step count, for bias correction
   * @param gradScale the gradients are multiplied by {@code 1/gradScale} (the loss scale, times any
   *     clip factor) before use; 1 for none
   * @param copyOut null, or a bf16 or fp16 buffer of the same size that receives the updated
   *     parameters rounded to nearest even
   * @return the sum of squares and the overflow flag of the unscaled gradients
   * @throws IllegalArgumentException if sizes or types do not match, step is below 1, or gradScale
   *     is not a positive finite number
   */
  public GradStats step(
      FlatState state,
      FlatView grad,
      AdamHyperparams hp,
      long step,
      double gradScale,
      FlatView copyOut) {
    long n = state.numel();
    checkGrad(grad, n);
    if (step < 1) {
      throw new IllegalArgumentException("the Adam step count must be >= 1, got " + step);
    }
    float invScale = inverseScale(gradScale);
    long copyAddress = 0;
    int copyType = 0;
    if (copyOut != null) {
      if (copyOut.type() == ElementType.FP32 || copyOut.numel() != n) {
        throw new IllegalArgumentException(
            "the CPU Adam copy-out must be a bf16 or fp16 buffer of "
                + n
                + " elements, got "
                + copyOut);
      }
      copyAddress = copyOut.address();
      copyType = copyOut.type().code();
    }
    AdamCoefficients c = AdamCoefficients.of(hp, step, invScale);
    double sum =
        AdamNative.adamStep(
            isa.code(),
            threads,
            n,
            state.param().address(),
            state.expAvg().address(),
            state.expAvgSq().address(),
            grad.address(),
            grad.type().code(),
            copyAddress,
            copyType,
            c.floats(),
            c.decayMode());
    Reference.reachabilityFence(state);
    Reference.reachabilityFence(grad);
    Reference.reachabilityFence(copyOut);
    return GradStats.ofSumOfSquares(sum);
  }

  /**
   * The pre-pass: the sum of squares and overflow flag of {@code grad * (1/gradScale)}, exactly as
   * {@link #step} would report them, reading the gradients once and writing nothing.
   */
  public GradStats gradStats(FlatView grad, double gradScale) {
    float invScale = inverseScale(gradScale);
    double sum =
        AdamNative.gradSumSquares(
            isa.code(), threads, grad.numel(), grad.address(), grad.type().code(), invScale);
    Reference.reachabilityFence(grad);
    return GradStats.ofSumOfSquares(sum);
  }

  @Override
  public void step(
      Tensor param, Tensor expAvg, Tensor expAvgSq, Tensor grad, AdamHyperparams hp, long step) {
    step(FlatState.of(param, expAvg, expAvgSq), FlatView.of(grad), hp, step, 1.0);
  }

  /**
   * A few lines for {@code zero4j report}: the paths compiled into the library, those this CPU
   * supports, and the one {@link Isa#selected()} picks.
   */
  public static String report() {
    String chosen;
    try {
      chosen = Isa.selected().label();
    } catch (IllegalArgumentException e) {
      chosen = "none (" + e.getMessage() + ")";
    }
    StringBuilder supported = new StringBuilder();
    for (Isa isa : Isa.supportedPaths()) {
      supported.append(supported.length() == 0 ? "" : ", ").append(isa.label());
    }
    return "cpu adam kernel: compiled "
        + AdamNative.compiledVariants()
        + "\ncpu adam kernel: this CPU supports "
        + supported
        + "\ncpu adam kernel: chosen "
        + chosen
        + " (force with -D"
        + Isa.PROPERTY
        + "=scalar|avx2|avx512 or "
        + Isa.ENV
        + ")";
  }

  private static void checkGrad(FlatView grad, long n) {
    if (grad.numel() != n) {
      throw new IllegalArgumentException(
          "the gradient has " + grad.numel() + " elements but the state has " + n);
    }
  }

  private static float inverseScale(double gradScale) {
    if (!(gradScale > 0) || Double.isInfinite(gradScale)) {
      throw new IllegalArgumentException(
          "gradScale must be a finite number > 0 (1 for unscaled gradients), got " + gradScale);
    }
    return (float) (1.0 / gradScale);
  }
}
