package org.zero4j.engine.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import org.zero4j.engine.schedule.SchedulerConfig;
import org.zero4j.offload.AioConfig;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.zero.Precision;
import org.zero4j.zero.Stage3Config;
import org.zero4j.zero.ZeroConfig;

/** Turns config text into an {@link EngineConfig}: parse, fill "auto", bind each block, check. */
final class ConfigLoader {
  /** Top-level DeepSpeed blocks that zero4j does not implement; see {@link #otherBlocks}. */
  static final List<String> OTHER_DEEPSPEED_KEYS =
      List.of(
          "amp",
          "torch_autocast",
          "flops_profiler",
          "activation_checkpointing",
          "comms_logger",
          "autotuning",
          "elasticity",
          "pipeline",
          "sparse_attention",
          "compression_training",
          "data_efficiency",
          "curriculum_learning",
          "progressive_layer_drop",
          "eigenvalue",
          "quantize_training",
          "hybrid_engine",
          "compile",
          "tensor_parallel",
          "expert_parallel",
          "nebula",
          "datastates",
          "data_types",
          "weight_quantization",
          "timers",
          "sequence_parallel_size",
          "log_level",
          "vocabulary_size",
          "graph_harvesting",
          "dataloader_drop_last",
          "use_data_before_expert_parallelism",
          "seq_parallel_communication_data_type",
          "managed_gradient_accumulation");

  private ConfigLoader() {}

  static EngineConfig load(String json, int worldSize, AutoValues autos) {
    if (worldSize <= 0) {
      throw new IllegalArgumentException("world size must be > 0, got " + worldSize);
    }
    ObjectNode tree = JsonTrees.parse(json);
    List<String> autoKeys =
        AutoResolver.resolve(tree, worldSize, autos == null ? AutoValues.NONE : autos);
    ConfigFindings f = new ConfigFindings();
    ConfigNode root = new ConfigNode("", tree);

    BatchConfig batch =
        BatchConfig.derive(
            intOrNull(root, "train_batch_size"),
            intOrNull(root, "train_micro_batch_size_per_gpu"),
            intOrNull(root, "gradient_accumulation_steps"),
            worldSize);
    double clipping = root.number("gradient_clipping", 1.0);
    Fp16Config fp16 = PrecisionReader.fp16(root.object("fp16"), f);
    Bf16Config bf16 = PrecisionReader.bf16(root, f);
    String comm = root.string("communication_data_type");
    Precision commType = comm == null ? null : Precision.parse("communication_data_type", comm);

    ConfigNode opt = root.object("optimizer");
    OptimizerConfig optimizer = opt == null ? null : OptimizerConfig.read(opt, f);
    if (opt != null) {
      opt.warnUnknown(f);
    }
    ConfigNode sched = root.object("scheduler");
    SchedulerConfig scheduler = sched == null ? null : SchedulerConfigReader.read(sched, f);

    ZeroConfig zero = ZeroConfigReader.read(root, f);
    PrecisionReader.checkAgainstZero(fp16, bf16, zero.stage());
    AioConfig aio = readAio(root.object("aio"), f);
    long stepsPerPrint = root.integer("steps_per_print", 0);
    if (root.has("steps_per_print") && stepsPerPrint <= 0) {
      throw new IllegalArgumentException("steps_per_print must be > 0, got " + stepsPerPrint);
    }
    boolean wallClock = root.bool("wall_clock_breakdown", false);
    CheckpointConfig checkpoint = readCheckpoint(root.object("checkpoint"), f);
    MonitorConfig tensorboard = MonitorConfig.read(root.object("tensorboard"));
    MonitorConfig csv = MonitorConfig.read(root.object("csv_monitor"));
    readOtherMonitors(root, f);
    boolean allowUntested = root.bool("zero_allow_untested_optimizer", false);
    root.bool("zero_force_ds_cpu_optimizer", true);
    Zero4jConfig zero4j = Zero4jConfig.read(root.object("zero4j"));
    readGradientFlags(root, f);
    otherBlocks(root, f);
    root.accept("allgather_size");
    root.warnUnknown(f);

    flagZero(zero, f);
    if (tensorboard.enabled()) {
      f.unsupported("tensorboard.enabled=true");
    }
    return new EngineConfig(
        batch,
        clipping,
        fp16,
        bf16,
        commType,
        optimizer,
        scheduler,
        zero,
        aio,
        Math.toIntExact(stepsPerPrint),
        wallClock,
        checkpoint,
        tensorboard,
        csv,
        allowUntested,
        zero4j,
        autoKeys,
        f.warnings(),
        f.unsupported());
  }

  private static Integer intOrNull(ConfigNode root, String key) {
    Long v = root.integer(key);
    if (v != null && (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE)) {
      throw new IllegalArgumentException(key + ": " + v + " is out of range");
    }
    return v == null ? null : v.intValue();
  }

  // Note [pin_memory without an accelerator]: pinning page-locks host buffers for DMA to a device;
  // zero4j computes in host memory, so offload buffers are the memory the step itself uses and
  // there
  // is nothing to pin. The default (true) is what zero4j does in effect; false asks for a
  // difference that cannot exist here, so it is refused rather than silently accepted.
  private static final String PIN_MEMORY =
      "zero_optimization.%s.pin_memory=false has no meaning in zero4j: it runs without an"
          + " accelerator, so offload buffers are the host memory the step computes in and there"
          + " is nothing to pin or unpin; remove the key or set it to true";

  private static void flagZero(ZeroConfig zero, ConfigFindings f) {
    if (zero.stage() == 3) {
      flagStage3(zero.stage3(), f);
    }
    if (zero.offloadOptimizer() != null && zero.offloadOptimizer().device() != OffloadDevice.NONE) {
      String device = zero.offloadOptimizer().device().jsonName();
      if (zero.stage() == 0) {
        f.unsupportedRaw(
            "zero_optimization.offload_optimizer.device="
                + device
                + " needs ZeRO stage 1, 2 or 3 (DeepSpeed offloads optimizer state only with ZeRO"
                + " enabled); set zero_optimization.stage to 1, 2 or 3, or remove"
                + " offload_optimizer");
      }
      if (zero.offloadOptimizer().superOffload()) {
        f.unsupported("zero_optimization.offload_optimizer.super_offload=true");
      }
      if (zero.offloadOptimizer().ratio() < 1.0) {
        f.unsupported(
            "zero_optimization.offload_optimizer.ratio="
                + zero.offloadOptimizer().ratio()
                + " (partial offload)");
      }
      if (!zero.offloadOptimizer().pinMemory()) {
        f.unsupportedRaw(PIN_MEMORY.formatted("offload_optimizer"));
      }
    }
    if (zero.offloadParam() != null && zero.offloadParam().device() != OffloadDevice.NONE) {
      if (zero.stage() != 3) {
        f.unsupportedRaw(
            "zero_optimization.offload_param.device="
                + zero.offloadParam().device().jsonName()
                + " needs ZeRO stage 3 (only stage 3 partitions the parameters); set"
                + " zero_optimization.stage to 3, or remove offload_param");
      }
      if (!zero.offloadParam().pinMemory()) {
        f.unsupportedRaw(PIN_MEMORY.formatted("offload_param"));
      }
    }
    if (zero.roundRobinGradients()) {
      f.unsupported("zero_optimization.round_robin_gradients=true");
    }
    if (zero.elasticCheckpoint()) {
      f.unsupported("zero_optimization.elastic_checkpoint=true");
    }
  }

  // Stage-3 keys whose behaviour zero4j does not build; the rest are honoured by Stage3Optimizer.
  private static void flagStage3(Stage3Config s3, ConfigFindings f) {
    if (s3.moduleGranularityThreshold() > 0) {
      f.unsupported(
          "zero_optimization.stage3_module_granularity_threshold="
              + s3.moduleGranularityThreshold());
    }
    if (s3.allgatherSequential()) {
      f.unsupported("zero_optimization.stage3_allgather_sequential=true");
    }
  }

  private static AioConfig readAio(ConfigNode a, ConfigFindings f) {
    if (a == null) {
      return AioConfig.DEFAULT;
    }
    Long threads = a.integer("thread_count");
    Long intra = a.integer("intra_op_parallelism");
    if (threads != null) {
      if (intra != null) {
        throw new IllegalArgumentException(
            "aio.thread_count is the old name of aio.intra_op_parallelism; give only one");
      }
      f.warn("aio.thread_count was renamed intra_op_parallelism in DeepSpeed; using it as such");
      intra = threads;
    }
    AioConfig c =
        new AioConfig(
            a.intValue("block_size", 1048576),
            a.intValue("queue_depth", 8),
            intra == null ? 1 : Math.toIntExact(intra),
            a.bool("single_submit", false),
            a.bool("overlap_events", true),
            a.bool("use_gds", false));
    a.warnUnknown(f);
    if (c.useGds()) {
      f.unsupported("aio.use_gds=true");
    }
    return c;
  }

  private static CheckpointConfig readCheckpoint(ConfigNode c, ConfigFindings f) {
    if (c == null) {
      return CheckpointConfig.DEFAULT;
    }
    CheckpointConfig cfg =
        new CheckpointConfig(
            CheckpointConfig.TagValidation.parse(
                c.key("tag_validation"), c.string("tag_validation", "WARN")),
            c.bool("load_universal", false),
            c.bool("use_node_local_storage", false));
    ConfigNode pw = c.object("parallel_write");
    if (pw != null && pw.bool("pipeline_stage", false)) {
      f.unsupported("checkpoint.parallel_write.pipeline_stage=true");
    }
    if (c.has("writer")) {
      f.unsupported("checkpoint.writer");
    }
    c.warnUnknown(f);
    if (cfg.loadUniversal()) {
      f.unsupported("checkpoint.load_universal=true");
    }
    if (cfg.useNodeLocalStorage()) {
      f.unsupported("checkpoint.use_node_local_storage=true");
    }
    return cfg;
  }

  private static void readOtherMonitors(ConfigNode root, ConfigFindings f) {
    ConfigNode w = root.object("wandb");
    if (w != null) {
      boolean on = w.bool("enabled", false);
      w.string("group");
      w.string("team");
      w.string("project");
      w.rejectUnknown();
      if (on) {
        f.unsupported("wandb.enabled=true");
      }
    }
    ConfigNode c = root.object("comet");
    if (c != null) {
      boolean on = c.bool("enabled", false);
      c.integer("samples_log_interval");
      for (String k :
          new String[] {
            "project", "workspace", "api_key", "experiment_name", "experiment_key", "mode"
          }) {
        c.string(k);
      }
      c.bool("online");
      c.rejectUnknown();
      if (on) {
        f.unsupported("comet.enabled=true");
      }
    }
  }

  private static void readGradientFlags(ConfigNode root, ConfigFindings f) {
    if (root.bool("prescale_gradients", false)) {
      f.unsupported("prescale_gradients=true");
    }
    double predivide = root.number("gradient_predivide_factor", 1.0);
    if (predivide != 1.0) {
      f.unsupported("gradient_predivide_factor=" + predivide);
    }
    String op = root.string("gradient_allreduce_op", "mean").toLowerCase(java.util.Locale.ROOT);
    if (op.equals("sum")) {
      f.unsupported("gradient_allreduce_op=sum");
    } else if (!op.equals("mean")) {
      throw new IllegalArgumentException(
          "gradient_allreduce_op must be \"mean\" or \"sum\", got \"" + op + "\"");
    }
    for (String flag :
        new String[] {"sparse_gradients", "disable_allgather", "dump_state", "memory_breakdown"}) {
      if (root.bool(flag, false)) {
        f.unsupported(flag + "=true");
      }
    }
  }

  // Note [other DeepSpeed blocks]: these are valid DeepSpeed keys for features zero4j lacks. An
  // enabled one ("enabled": true, or sparse_attention at all) is not supported yet; otherwise
  // the block has no effect in DeepSpeed either for a plain model, and is kept as a warning.
  private static void otherBlocks(ConfigNode root, ConfigFindings f) {
    for (String k : OTHER_DEEPSPEED_KEYS) {
      JsonNode v = root.raw(k);
      if (v == null) {
        continue;
      }
      JsonNode enabled = v.isObject() ? v.get("enabled") : null;
      if (k.equals("sparse_attention") || (enabled != null && enabled.asBoolean(false))) {
        f.unsupported(k + (enabled != null ? ".enabled=true" : ""));
      } else {
        f.warn(k + " is a DeepSpeed setting without effect in zero4j; ignored");
      }
    }
  }
}
