package org.zero4j.engine.config;

import java.util.Locale;

/**
 * The {@code checkpoint} block.
 *
 * @param tagValidation {@code tag_validation}: Ignore, Warn or Fail when ranks save under different
 *     tags (case-insensitive; default Warn)
 * @param loadUniversal {@code load_universal}: load a universal (re-shardable) checkpoint (default
 *     false)
 * @param useNodeLocalStorage {@code use_node_local_storage}: every node saves its own copy (default
 *     false)
 */
public record CheckpointConfig(
    TagValidation tagValidation, boolean loadUniversal, boolean useNodeLocalStorage) {

  /** DeepSpeed's defaults. */
  public static final CheckpointConfig DEFAULT =
      new CheckpointConfig(TagValidation.WARN, false, false);

  /** What to do when ranks disagree on a checkpoint tag. */
  public enum TagValidation {
    IGNORE,
    WARN,
    FAIL;

    static TagValidation parse(String key, String value) {
      try {
        return valueOf(value.toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            key + " must be one of Ignore, Warn, Fail, got \"" + value + "\"", e);
      }
    }
  }

  public CheckpointConfig {
    if (tagValidation == null) {
      throw new IllegalArgumentException("checkpoint.tag_validation must not be null");
    }
  }
}
