package org.zero4j.zero.stage3;

import java.util.Objects;
import org.zero4j.zero.Precision;
import org.zero4j.zero.Stage3Config;

/**
 * How ZeRO stage 3 shards and communicates.
 *
 * @param working precision of the parameters and gradients
 * @param wire precision gradients are reduced in ({@code communication_data_type})
 * @param reduceBucketNumel {@code reduce_bucket_size}: with {@code overlapComm}, elements of unit
 *     gradients whose reduce-scatter may be in flight while backward continues (at least one unit
 *     always may); gradients are reduced one unit at a time
 * @param overlapComm reduce a unit's gradients while backward continues (true) or wait for each
 *     reduce-scatter before backward resumes (false)
 * @param ignoreUnusedParameters treat a parameter that got no gradient in a backward as having a
 *     zero gradient (true), or fail naming it (false)
 * @param stage3 the {@code stage3_*} settings: prefetch, persistence and live-window limits
 */
public record Stage3Options(
    Precision working,
    Precision wire,
    long reduceBucketNumel,
    boolean overlapComm,
    boolean ignoreUnusedParameters,
    Stage3Config stage3) {

  public Stage3Options {
    Objects.requireNonNull(working);
    Objects.requireNonNull(wire);
    Objects.requireNonNull(stage3);
    if (reduceBucketNumel < 1) {
      throw new IllegalArgumentException(
          "zero_optimization.reduce_bucket_size must be >= 1 element at stage 3, got "
              + reduceBucketNumel);
    }
  }

  /** Defaults for tests: fp32, overlap on, prefetch and persistence as DeepSpeed's defaults. */
  public static Stage3Options of(Precision working, Stage3Config stage3) {
    return new Stage3Options(working, working, 500_000_000L, true, true, stage3);
  }
}
