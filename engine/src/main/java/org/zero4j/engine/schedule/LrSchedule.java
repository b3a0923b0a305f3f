package org.zero4j.engine.schedule;

import java.util.OptionalDouble;

/**
 * A learning-rate schedule with DeepSpeed's step semantics.
 *
 * <p>Note [schedule step index]: {@code step} is the number of optimizer steps already applied
 * (skipped fp16 overflow steps do not count, as DeepSpeed only steps its scheduler after an applied
 * step). {@code lrAt(0)} is the lr of the first optimizer step, which DeepSpeed sets when it builds
 * the scheduler ({@code last_batch_iteration = -1}); {@code lrAt(k)} is the lr after k scheduler
 * steps, i.e. DeepSpeed's {@code get_lr()} at {@code last_batch_iteration = k - 1}.
 */
public interface LrSchedule {
  /** The learning rate for the optimizer step that follows {@code step} applied steps. */
  double lrAt(long step);

  /**
   * Adam's beta1 for that optimizer step when the schedule cycles momentum (OneCycle with {@code
   * cycle_momentum}), else empty and the optimizer's own beta1 applies.
   */
  default OptionalDouble beta1At(long step) {
    return OptionalDouble.empty();
  }

  /**
   * Adam's beta2 for that step when the schedule sets it, else empty. DeepSpeed's OneCycle with
   * {@code cycle_momentum} pins beta2 to 0.99.
   */
  default OptionalDouble beta2At(long step) {
    return OptionalDouble.empty();
  }
}
