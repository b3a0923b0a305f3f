package org.zero4j.engine.config;

/**
 * The zero4j-specific top-level block {@code "zero4j": {...}}. DeepSpeed ignores top-level keys it
 * does not know, so a config carrying this block stays portable.
 *
 * @param collectiveTimeoutSeconds {@code collective_timeout_seconds}: how long a collective or the
 *     rendezvous waits for a peer before failing, > 0 (default 300)
 */
public record Zero4jConfig(int collectiveTimeoutSeconds) {

  /** The defaults. */
  public static final Zero4jConfig DEFAULT = new Zero4jConfig(300);

  public Zero4jConfig {
    if (collectiveTimeoutSeconds <= 0) {
      throw new IllegalArgumentException(
          "zero4j.collective_timeout_seconds must be > 0, got " + collectiveTimeoutSeconds);
    }
  }

  static Zero4jConfig read(ConfigNode z) {
    if (z == null) {
      return DEFAULT;
    }
    Zero4jConfig c = new Zero4jConfig(z.intValue("collective_timeout_seconds", 300));
    z.rejectUnknown();
    return c;
  }
}
