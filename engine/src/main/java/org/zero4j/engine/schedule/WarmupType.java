package org.zero4j.engine.schedule;

/** How warm-up rises from its start to its end: DeepSpeed's {@code warmup_type}. */
public enum WarmupType {
  /** gamma = ln(i + 1) / ln(W), DeepSpeed's default. */
  LOG,
  /** gamma = i / W. */
  LINEAR;

  /** The warm-up fraction at scheduler iteration {@code it} in [0, W) for W warm-up steps. */
  double gamma(long it, int warmupSteps) {
    return this == LOG ? Math.log(it + 1) / Math.log(warmupSteps) : (double) it / warmupSteps;
  }

  /** The JSON spelling. */
  public String jsonName() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
