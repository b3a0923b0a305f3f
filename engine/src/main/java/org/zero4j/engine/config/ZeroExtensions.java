package org.zero4j.engine.config;

/**
 * The {@code zero_optimization} keys DeepSpeed defines beyond {@link org.zero4j.zero.ZeroConfig}:
 * ZeRO++, MiCS, ZenFlow and stage 3 internals. They are type-checked so that any DeepSpeed config
 * loads; a value other than DeepSpeed's default is reported as not supported yet, never ignored.
 */
final class ZeroExtensions {
  private ZeroExtensions() {}

  static void read(ConfigNode z, ConfigFindings f) {
    flagBool(z, f, "use_multi_rank_bucket_allreduce", true);
    flagBool(z, f, "legacy_stage1", false);
    flagBool(z, f, "zero_quantized_weights", false);
    flagBool(z, f, "zero_quantized_nontrainable_weights", false);
    flagBool(z, f, "zero_quantized_gradients", false);
    flagBool(z, f, "mics_hierarchical_params_gather", false);
    flagBool(z, f, "memory_efficient_linear", true);
    flagBool(z, f, "pipeline_loading_checkpoint", false);
    flagBool(z, f, "override_module_apply", true);
    flagBool(z, f, "save_muon_momentum_buffer_in_memory", false);
    long hpz = z.integer("zero_hpz_partition_size", 1);
    if (hpz < 0) {
      throw new IllegalArgumentException(
          z.key("zero_hpz_partition_size") + " must be >= 0, got " + hpz);
    }
    if (hpz > 1) {
      f.unsupported(z.key("zero_hpz_partition_size") + "=" + hpz);
    }
    long mics = z.integer("mics_shard_size", -1);
    if (mics > 0) {
      f.unsupported(z.key("mics_shard_size") + "=" + mics);
    }
    for (String block : new String[] {"zeropp_loco_param", "zenflow", "leaf_module"}) {
      ConfigNode b = z.object(block);
      if (b != null && !b.unknownKeys().isEmpty()) {
        f.unsupported(z.key(block));
      }
    }
    for (String debug : new String[] {"log_trace_cache_warnings", "enable_sanity_checks"}) {
      if (z.bool(debug, false)) {
        f.warn(z.key(debug) + "=true has no effect in zero4j (a DeepSpeed stage 3 debug aid)");
      }
    }
  }

  private static void flagBool(ConfigNode z, ConfigFindings f, String key, boolean dflt) {
    boolean v = z.bool(key, dflt);
    if (v != dflt) {
      f.unsupported(z.key(key) + "=" + v);
    }
  }
}
