package org.zero4j.engine.config;

import com.fasterxml.jackson.databind.JsonNode;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.offload.OffloadOptimizerConfig;
import org.zero4j.offload.OffloadParamConfig;
import org.zero4j.zero.Stage3Config;
import org.zero4j.zero.ZeroConfig;

/**
 * Binds {@code zero_optimization} to {@link ZeroConfig}: DeepSpeed's aliases ({@code stage3_x} and
 * {@code x}), deprecated names (mapped with a warning), and every other key DeepSpeed defines,
 * whose non-default values name features this build does not run yet.
 */
final class ZeroConfigReader {
  private ZeroConfigReader() {}

  static ZeroConfig read(ConfigNode root, ConfigFindings findings) {
    JsonNode raw = root.raw("zero_optimization");
    if (raw == null) {
      return ZeroConfig.DEFAULT;
    }
    if (raw.isBoolean()) {
      // DeepSpeed's legacy form: "zero_optimization": true means stage 1.
      findings.warn(
          "zero_optimization: the boolean form is deprecated; write {\"stage\": "
              + (raw.booleanValue() ? 1 : 0)
              + "} instead");
      ZeroConfig d = ZeroConfig.DEFAULT;
      return new ZeroConfig(
          raw.booleanValue() ? 1 : 0,
          d.contiguousGradients(),
          d.reduceScatter(),
          d.reduceBucketSize(),
          d.allgatherPartitions(),
          root.integer("allgather_size", d.allgatherBucketSize()),
          d.overlapComm(),
          d.loadFromFp32Weights(),
          d.elasticCheckpoint(),
          d.ignoreUnusedParameters(),
          d.roundRobinGradients(),
          d.subGroupSize(),
          d.offloadOptimizer(),
          d.offloadParam(),
          d.stage3());
    }
    ConfigNode z = root.object("zero_optimization");
    int stage = z.intValue("stage", 0);
    OffloadOptimizerConfig offloadOptimizer = readOffloadOptimizer(z.object("offload_optimizer"));
    OffloadParamConfig offloadParam = readOffloadParam(z.object("offload_param"));
    offloadOptimizer =
        deprecatedOffload(
            z,
            "cpu_offload",
            "offload_optimizer",
            offloadOptimizer,
            findings,
            OffloadOptimizerConfig.of(OffloadDevice.CPU));
    offloadParam =
        deprecatedOffload(
            z,
            "cpu_offload_param",
            "offload_param",
            offloadParam,
            findings,
            OffloadParamConfig.of(OffloadDevice.CPU));
    if (z.has("cpu_offload_use_pin_memory")) {
      z.bool("cpu_offload_use_pin_memory");
      findings.warn(
          z.key("cpu_offload_use_pin_memory")
              + " is deprecated and has no effect; set pin_memory in offload_optimizer or"
              + " offload_param");
    }
    Boolean overlap = z.bool("overlap_comm");
    ZeroConfig cfg =
        new ZeroConfig(
            stage,
            z.bool("contiguous_gradients", true),
            z.bool("reduce_scatter", true),
            z.integer("reduce_bucket_size", 500_000_000L),
            z.bool("allgather_partitions", true),
            z.integer("allgather_bucket_size", 500_000_000L),
            overlap != null ? overlap : stage == 3,
            z.bool("load_from_fp32_weights", true),
            z.bool("elastic_checkpoint", false),
            z.bool("ignore_unused_parameters", true),
            z.bool("round_robin_gradients", false),
            z.integer("sub_group_size", 1_000_000_000L),
            offloadOptimizer,
            offloadParam,
            readStage3(z, findings));
    ZeroExtensions.read(z, findings);
    z.rejectUnknown();
    return cfg;
  }

  private static Stage3Config readStage3(ConfigNode z, ConfigFindings f) {
    Stage3Config d = Stage3Config.DEFAULT;
    Boolean gather16 = aliasedBool(z, "gather_16bit_weights_on_model_save", f);
    if (z.has("stage3_gather_fp16_weights_on_model_save")) {
      boolean old = z.bool("stage3_gather_fp16_weights_on_model_save");
      if (gather16 != null) {
        throw new IllegalArgumentException(
            z.key("stage3_gather_fp16_weights_on_model_save")
                + " is the deprecated name of stage3_gather_16bit_weights_on_model_save; give only"
                + " one of them");
      }
      f.warn(
          z.key("stage3_gather_fp16_weights_on_model_save")
              + " is deprecated; use stage3_gather_16bit_weights_on_model_save instead");
      gather16 = old;
    }
    return new Stage3Config(
        aliasedLong(z, "prefetch_bucket_size", d.prefetchBucketSize(), f),
        aliasedLong(z, "param_persistence_threshold", d.paramPersistenceThreshold(), f),
        aliasedLong(z, "model_persistence_threshold", d.modelPersistenceThreshold(), f),
        aliasedLong(z, "max_live_parameters", d.maxLiveParameters(), f),
        aliasedLong(z, "max_reuse_distance", d.maxReuseDistance(), f),
        gather16 != null && gather16,
        aliasedLong(z, "module_granularity_threshold", d.moduleGranularityThreshold(), f),
        bool(aliasedBool(z, "use_all_reduce_for_fetch_params", f)),
        bool(aliasedBool(z, "allgather_sequential", f)));
  }

  // Note [stage3 aliases]: DeepSpeed declares each stage 3 field under its short name with the
  // stage3_ spelling as alias, accepting both; when both are present the alias is looked up first.
  private static long aliasedLong(ConfigNode z, String name, long dflt, ConfigFindings f) {
    Long prefixed = z.integer("stage3_" + name);
    Long plain = z.integer(name);
    bothWarning(z, name, prefixed != null && plain != null, f);
    return prefixed != null ? prefixed : plain != null ? plain : dflt;
  }

  private static Boolean aliasedBool(ConfigNode z, String name, ConfigFindings f) {
    Boolean prefixed = z.bool("stage3_" + name);
    Boolean plain = z.bool(name);
    bothWarning(z, name, prefixed != null && plain != null, f);
    return prefixed != null ? prefixed : plain;
  }

  private static void bothWarning(ConfigNode z, String name, boolean both, ConfigFindings f) {
    if (both) {
      f.warn(
          z.key(name)
              + " and "
              + z.key("stage3_" + name)
              + " are both given; DeepSpeed uses stage3_"
              + name
              + ", so does zero4j");
    }
  }

  private static boolean bool(Boolean b) {
    return b != null && b;
  }

  private static <T> T deprecatedOffload(
      ConfigNode z, String oldKey, String newKey, T current, ConfigFindings findings, T cpu) {
    Boolean old = z.bool(oldKey);
    if (old == null) {
      return current;
    }
    if (current != null) {
      throw new IllegalArgumentException(
          z.key(oldKey) + " is the deprecated form of " + z.key(newKey) + "; give only " + newKey);
    }
    findings.warn(
        z.key(oldKey)
            + " is deprecated; use \""
            + newKey
            + "\": {\"device\": \"cpu\"}"
            + " instead"
            + (old ? "" : " (false means no offload)"));
    return old ? cpu : null;
  }

  private static OffloadOptimizerConfig readOffloadOptimizer(ConfigNode o) {
    if (o == null) {
      return null;
    }
    OffloadOptimizerConfig c =
        new OffloadOptimizerConfig(
            OffloadDevice.parse(o.key("device"), o.string("device", "none")),
            o.string("nvme_path"),
            o.bool("pin_memory", true),
            o.intValue("buffer_count", 4),
            o.bool("pipeline_read", false),
            o.bool("pipeline_write", false),
            o.bool("fast_init", false),
            o.number("ratio", 1.0),
            o.bool("super_offload", false),
            o.number("cpuadam_cores_perc", 0.8));
    o.rejectUnknown();
    return c;
  }

  private static OffloadParamConfig readOffloadParam(ConfigNode o) {
    if (o == null) {
      return null;
    }
    OffloadParamConfig c =
        new OffloadParamConfig(
            OffloadDevice.parse(o.key("device"), o.string("device", "none")),
            o.string("nvme_path"),
            o.bool("pin_memory", true),
            o.intValue("buffer_count", 5),
            o.integer("buffer_size", 100_000_000L),
            o.integer("max_in_cpu", 1_000_000_000L));
    o.rejectUnknown();
    return c;
  }
}
