package org.zero4j.engine.config;

/**
 * A file monitor block ({@code csv_monitor} or {@code tensorboard}).
 *
 * @param enabled {@code enabled}: write the monitor's files (default false)
 * @param outputPath {@code output_path}: directory for the files ({@code ""}: the working
 *     directory)
 * @param jobName {@code job_name}: subdirectory of output_path (default DeepSpeedJobName)
 */
public record MonitorConfig(boolean enabled, String outputPath, String jobName) {

  /** DeepSpeed's defaults (disabled). */
  public static final MonitorConfig DEFAULT = new MonitorConfig(false, "", "DeepSpeedJobName");

  public MonitorConfig {
    if (outputPath == null || jobName == null) {
      throw new IllegalArgumentException("monitor output_path and job_name must not be null");
    }
  }

  static MonitorConfig read(ConfigNode m) {
    if (m == null) {
      return DEFAULT;
    }
    MonitorConfig c =
        new MonitorConfig(
            m.bool("enabled", false),
            m.string("output_path", ""),
            m.string("job_name", "DeepSpeedJobName"));
    m.rejectUnknown();
    return c;
  }
}
