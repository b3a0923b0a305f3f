package org.zero4j.engine.schedule;

/** Range checks shared by the warm-up schedules. */
final class WarmupChecks {
  private WarmupChecks() {}

  static void positiveSteps(long warmupNumSteps) {
    if (warmupNumSteps <= 0) {
      throw new IllegalArgumentException(
          "scheduler.params.warmup_num_steps must be a positive integer, got "
              + warmupNumSteps
              + " (DeepSpeed rejects 0; with \"auto\" pass AutoValues.warmupSteps)");
    }
  }

  static void positiveTotal(long totalNumSteps) {
    if (totalNumSteps <= 0) {
      throw new IllegalArgumentException(
          "scheduler.params.total_num_steps must be a positive integer, got " + totalNumSteps);
    }
  }
}
