package org.zero4j.zero;

import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.zero.comm.Collectives;

/**
 * Collects the gradients of one rank across micro-steps and reduces them over ranks into the part
 * this rank's optimizer updates. Stages differ only in when they reduce and what they keep: {@link
 * GradBuffer} keeps full gradients and reduces at the accumulation boundary (stages 0 and 1);
 * {@link GradStream} reduce-scatters during backward and keeps only the shard (stage 2).
 */
interface GradientReducer extends AutoCloseable {

  /** The reducer of {@code options}' stage for {@code params}, laid out by {@code layout}. */
  static GradientReducer create(
      List<NamedParameter> params,
      ShardLayout layout,
      Collectives comm,
      ZeroOptimizer.Options options) {
    return options.stage() == 2
        ? new GradStream(
            params,
            layout,
            comm,
            options.working(),
            options.wire(),
            options.reduceScatter(),
            options.overlapComm(),
            options.ignoreUnusedParameters())
        : new GradBuffer(
            params,
            layout,
            comm,
            options.working(),
            options.wire(),
            options.stage() >= 1,
            options.reduceScatter());
  }

  /** Called before each micro-step's backward. */
  void beforeBackward();

  /** Called after each micro-step's backward has returned. */
  void afterBackward();

  /**
   * At the accumulation boundary: the gradients summed over ranks (not yet averaged or unscaled)
   * for the optimizer's part, in working precision. The tensor stays valid until {@link #zero()}.
   */
  Tensor reduced();

  /** Clears accumulated gradients after a step (taken or skipped). */
  void zero();

  /** Bytes of gradient storage that persist across steps. */
  long bytes();

  @Override
  void close();
}
