package org.zero4j.engine.config;

import java.util.List;
import org.zero4j.engine.schedule.LRRangeTestConfig;
import org.zero4j.engine.schedule.OneCycleConfig;
import org.zero4j.engine.schedule.SchedulerConfig;
import org.zero4j.engine.schedule.WarmupCosineLRConfig;
import org.zero4j.engine.schedule.WarmupDecayLRConfig;
import org.zero4j.engine.schedule.WarmupLRConfig;
import org.zero4j.engine.schedule.WarmupType;

/**
 * Binds the {@code scheduler} block. As in DeepSpeed, the params are the schedule's constructor
 * arguments, so an unknown param is an error naming it; other type names are looked up in
 * torch.optim.lr_scheduler by DeepSpeed and are reported here as not supported yet.
 */
final class SchedulerConfigReader {
  static final List<String> TYPES =
      List.of("WarmupLR", "WarmupDecayLR", "WarmupCosineLR", "OneCycle", "LRRangeTest");

  static final List<String> TORCH_SCHEDULERS =
      List.of(
          "LambdaLR",
          "MultiplicativeLR",
          "StepLR",
          "MultiStepLR",
          "ConstantLR",
          "LinearLR",
          "ExponentialLR",
          "SequentialLR",
          "CosineAnnealingLR",
          "ChainedScheduler",
          "ReduceLROnPlateau",
          "CyclicLR",
          "CosineAnnealingWarmRestarts",
          "OneCycleLR",
          "PolynomialLR");

  private SchedulerConfigReader() {}

  /** Null when the type is recorded as not supported yet. */
  static SchedulerConfig read(ConfigNode block, ConfigFindings f) {
    String type = block.string("type");
    ConfigNode p = block.object("params");
    block.warnUnknown(f);
    if (type == null) {
      throw new IllegalArgumentException(
          block.key("type") + " is required in a scheduler block, one of " + TYPES);
    }
    if (!TYPES.contains(type)) {
      if (TORCH_SCHEDULERS.contains(type)) {
        f.unsupportedRaw(
            block.key("type")
                + " "
                + type
                + " (a torch.optim.lr_scheduler class) is not"
                + " supported yet (supported: "
                + String.join(", ", TYPES)
                + ")");
        return null;
      }
      throw new IllegalArgumentException(
          block.key("type")
              + " \""
              + type
              + "\" is not a scheduler DeepSpeed knows"
              + ClosestKey.suggestion(type, TYPES)
              + " (supported: "
              + String.join(", ", TYPES)
              + "; names are case-sensitive)");
    }
    if (p == null) {
      p = new ConfigNode(block.key("params"), JsonTrees.emptyObject());
    }
    long last = p.integer("last_batch_iteration", -1);
    if (last != -1) {
      f.unsupported(p.key("last_batch_iteration") + "=" + last);
    }
    SchedulerConfig c =
        switch (type) {
          case "WarmupLR" ->
              new WarmupLRConfig(
                  p.number("warmup_min_lr", 0.0), p.number("warmup_max_lr"),
                  p.intValue("warmup_num_steps", 1000), warmupType(p, f));
          case "WarmupDecayLR" ->
              new WarmupDecayLRConfig(
                  total(p),
                  p.number("warmup_min_lr", 0.0),
                  p.number("warmup_max_lr", 0.001),
                  p.intValue("warmup_num_steps", 1000),
                  warmupType(p, f));
          case "WarmupCosineLR" ->
              new WarmupCosineLRConfig(
                  total(p),
                  p.number("warmup_min_ratio", 0.0),
                  p.intValue("warmup_num_steps", 1000),
                  p.number("cos_min_ratio", 0.0001),
                  warmupType(p, f));
          case "OneCycle" -> oneCycle(p);
          default ->
              new LRRangeTestConfig(
                  p.number("lr_range_test_min_lr", 1e-3),
                      p.integer("lr_range_test_step_size", 2000),
                  p.number("lr_range_test_step_rate", 1.0),
                      p.bool("lr_range_test_staircase", false));
        };
    p.rejectUnknown();
    long warmup = p.integer("warmup_num_steps", 1000);
    if (p.has("total_num_steps") && p.integer("total_num_steps") < warmup) {
      f.warn(
          p.key("total_num_steps")
              + " "
              + p.integer("total_num_steps")
              + " is less than warmup_num_steps "
              + warmup
              + ", as DeepSpeed warns too");
    }
    return c;
  }

  private static OneCycleConfig oneCycle(ConfigNode p) {
    Long secondStairs = p.integer("cycle_second_stair_count");
    return new OneCycleConfig(
        required(p, "cycle_min_lr"),
        required(p, "cycle_max_lr"),
        p.number("decay_lr_rate", 0.0),
        p.number("cycle_first_step_size", 2000),
        p.number("cycle_second_step_size"),
        p.intValue("cycle_first_stair_count", 0),
        secondStairs == null ? null : Math.toIntExact(secondStairs),
        p.number("decay_step_size", 0),
        p.bool("cycle_momentum", true),
        p.number("cycle_min_mom", 0.8),
        p.number("cycle_max_mom", 0.9),
        p.number("decay_mom_rate", 0.0));
  }

  private static double required(ConfigNode p, String key) {
    Double v = p.number(key);
    if (v == null) {
      throw new IllegalArgumentException(p.key(key) + " is required for this scheduler type");
    }
    return v;
  }

  private static long total(ConfigNode p) {
    Long v = p.integer("total_num_steps");
    if (v == null) {
      throw new IllegalArgumentException(
          p.key("total_num_steps")
              + " is required for this scheduler type (the run's optimizer steps; \"auto\" takes"
              + " it from AutoValues.totalSteps)");
    }
    return v;
  }

  // Note [unknown warmup_type]: DeepSpeed logs a warning and falls back to log warm-up.
  private static WarmupType warmupType(ConfigNode p, ConfigFindings f) {
    String t = p.string("warmup_type", "log");
    if (t.equals("linear")) {
      return WarmupType.LINEAR;
    }
    if (!t.equals("log")) {
      f.warn(p.key("warmup_type") + " \"" + t + "\" is unknown; using log, as DeepSpeed does");
    }
    return WarmupType.LOG;
  }
}
