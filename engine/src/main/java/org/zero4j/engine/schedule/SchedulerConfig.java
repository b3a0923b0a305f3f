package org.zero4j.engine.schedule;

/**
 * The {@code scheduler} block: one of DeepSpeed's five schedule types with its {@code params}. Type
 * names are case-sensitive, as in DeepSpeed.
 */
public sealed interface SchedulerConfig
    permits WarmupLRConfig,
        WarmupDecayLRConfig,
        WarmupCosineLRConfig,
        OneCycleConfig,
        LRRangeTestConfig {

  /** The {@code type} as DeepSpeed spells it, e.g. {@code WarmupLR}. */
  String type();

  /**
   * The schedule for a run whose optimizer lr is {@code baseLr} (used by WarmupLR without {@code
   * warmup_max_lr} and by WarmupCosineLR, which scales it).
   */
  LrSchedule build(double baseLr);
}
