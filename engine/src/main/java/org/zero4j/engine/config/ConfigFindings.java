package org.zero4j.engine.config;

import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;

/**
 * What loading a config noticed besides errors: warnings (deprecated names, ignored keys) and
 * features that DeepSpeed accepts but this build cannot run yet.
 */
final class ConfigFindings {
  private static final Logger LOG = Logger.getLogger(EngineConfig.class.getName());

  private final List<String> warnings = new ArrayList<>();
  private final List<String> unsupported = new ArrayList<>();

  void warn(String message) {
    warnings.add(message);
    LOG.warning(message);
  }

  /** Records {@code "<what> is not supported yet"}. */
  void unsupported(String what) {
    unsupported.add(what + " is not supported yet");
  }

  /** Records a complete "... is not supported yet" sentence. */
  void unsupportedRaw(String sentence) {
    unsupported.add(sentence);
  }

  List<String> warnings() {
    return List.copyOf(warnings);
  }

  List<String> unsupported() {
    return List.copyOf(unsupported);
  }
}
