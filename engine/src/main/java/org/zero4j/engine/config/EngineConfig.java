package org.zero4j.engine.config;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.zero4j.engine.schedule.SchedulerConfig;
import org.zero4j.offload.AioConfig;
import org.zero4j.zero.Precision;
import org.zero4j.zero.ZeroConfig;

/**
 * A DeepSpeed JSON config, resolved for one world size: the root of all config records.
 *
 * <p>Loading accepts every config DeepSpeed accepts. Keys whose feature this build cannot run yet
 * are listed in {@link #unsupportedFeatures()} (the engine refuses them at initialize), never
 * silently ignored. Unknown top-level keys, deprecated names and keys without effect become {@link
 * #warnings()}. zero4j's own settings live in the top-level {@code "zero4j"} block.
 *
 * @param batch the batch triple after derivation
 * @param gradientClipping {@code gradient_clipping}: max global gradient norm, 0 for none (default
 *     1.0, DeepSpeed's default since 0.19.3)
 * @param fp16 the {@code fp16} block
 * @param bf16 the {@code bf16} block (or its old name {@code bfloat16})
 * @param communicationDataType {@code communication_data_type}: gradient reduction precision, or
 *     null to follow the model precision
 * @param optimizer the {@code optimizer} block, or null if absent or not supported yet
 * @param scheduler the {@code scheduler} block, or null if absent or not supported yet
 * @param zero the {@code zero_optimization} block
 * @param aio the {@code aio} block
 * @param stepsPerPrint {@code steps_per_print}: print progress every this many steps, 0 for never
 *     (DeepSpeed's default: not set)
 * @param wallClockBreakdown {@code wall_clock_breakdown}: time forward, backward and step (default
 *     false)
 * @param checkpoint the {@code checkpoint} block
 * @param tensorboard the {@code tensorboard} block
 * @param csvMonitor the {@code csv_monitor} block
 * @param zeroAllowUntestedOptimizer {@code zero_allow_untested_optimizer} (default false)
 * @param zero4j the zero4j-specific {@code zero4j} block
 * @param autoKeys one line per "auto" value that was filled, with its value and source
 * @param warnings warnings found while loading
 * @param unsupportedFeatures valid DeepSpeed settings this build cannot run yet
 */
public record EngineConfig(
    BatchConfig batch,
    double gradientClipping,
    Fp16Config fp16,
    Bf16Config bf16,
    Precision communicationDataType,
    OptimizerConfig optimizer,
    SchedulerConfig scheduler,
    ZeroConfig zero,
    AioConfig aio,
    int stepsPerPrint,
    boolean wallClockBreakdown,
    CheckpointConfig checkpoint,
    MonitorConfig tensorboard,
    MonitorConfig csvMonitor,
    boolean zeroAllowUntestedOptimizer,
    Zero4jConfig zero4j,
    List<String> autoKeys,
    List<String> warnings,
    List<String> unsupportedFeatures) {

  public EngineConfig {
    if (batch == null || fp16 == null || bf16 == null || zero == null || aio == null) {
      throw new IllegalStateException("EngineConfig blocks must not be null");
    }
    if (fp16.enabled() && bf16.enabled()) {
      throw new IllegalArgumentException(
          "fp16.enabled and bf16.enabled are both true; they are mutually exclusive, enable one");
    }
    if (!(gradientClipping >= 0) || Double.isInfinite(gradientClipping)) {
      throw new IllegalArgumentException(
          "gradient_clipping must be a finite number >= 0 (0 disables clipping), got "
              + gradientClipping);
    }
    if (stepsPerPrint < 0) {
      throw new IllegalArgumentException("steps_per_print must be > 0, got " + stepsPerPrint);
    }
    autoKeys = List.copyOf(autoKeys);
    warnings = List.copyOf(warnings);
    unsupportedFeatures = List.copyOf(unsupportedFeatures);
  }

  /**
   * Loads a config for {@code worldSize} data-parallel ranks, filling "auto" values from {@code
   * autos} (or their documented defaults).
   *
   * @throws IllegalArgumentException naming the key, the value and the rule, for an invalid config
   */
  public static EngineConfig load(String json, int worldSize, AutoValues autos) {
    return ConfigLoader.load(json, worldSize, autos);
  }

  /** {@link #load(String, int, AutoValues)} from a file. */
  public static EngineConfig load(Path file, int worldSize, AutoValues autos) {
    String json;
    try {
      json = Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read config " + file + ": " + e.getMessage(), e);
    }
    try {
      return load(json, worldSize, autos);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  /** {@code train_batch_size}. */
  public int trainBatchSize() {
    return batch.trainBatchSize();
  }

  /** {@code train_micro_batch_size_per_gpu}. */
  public int microBatchPerGpu() {
    return batch.microBatchPerGpu();
  }

  /** {@code gradient_accumulation_steps}. */
  public int gradientAccumulationSteps() {
    return batch.gradientAccumulationSteps();
  }

  /** The working precision of params and grads: FP16, BF16, or FP32 when neither is enabled. */
  public Precision precision() {
    return fp16.enabled() ? Precision.FP16 : bf16.enabled() ? Precision.BF16 : Precision.FP32;
  }

  /** {@code zero4j.collective_timeout_seconds}. */
  public int collectiveTimeoutSeconds() {
    return zero4j.collectiveTimeoutSeconds();
  }

  /** The resolved config, defaults included, as indented JSON with DeepSpeed's key names. */
  public String toPrettyJson() {
    ObjectMapper m =
        JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .build();
    ObjectNode root = m.createObjectNode();
    root.put("train_batch_size", trainBatchSize());
    root.put("train_micro_batch_size_per_gpu", microBatchPerGpu());
    root.put("gradient_accumulation_steps", gradientAccumulationSteps());
    root.put("gradient_clipping", gradientClipping);
    root.set("fp16", m.valueToTree(fp16));
    root.set("bf16", m.valueToTree(bf16));
    root.put(
        "communication_data_type",
        communicationDataType == null ? null : communicationDataType.name().toLowerCase());
    if (optimizer != null) {
      ObjectNode o = root.putObject("optimizer");
      o.put("type", optimizer.type());
      o.set("params", m.valueToTree(optimizer.hyperparams()));
      o.put("torch_adam", optimizer.torchAdam());
    }
    if (scheduler != null) {
      ObjectNode s = root.putObject("scheduler");
      s.put("type", scheduler.type());
      s.set("params", m.valueToTree(scheduler));
    }
    root.set("zero_optimization", m.valueToTree(zero));
    root.set("aio", m.valueToTree(aio));
    root.put("steps_per_print", stepsPerPrint);
    root.put("wall_clock_breakdown", wallClockBreakdown);
    root.set("checkpoint", m.valueToTree(checkpoint));
    root.set("tensorboard", m.valueToTree(tensorboard));
    root.set("csv_monitor", m.valueToTree(csvMonitor));
    root.put("zero_allow_untested_optimizer", zeroAllowUntestedOptimizer);
    root.set("zero4j", m.valueToTree(zero4j));
    try {
      return m.writeValueAsString(root);
    } catch (IOException e) {
      throw new IllegalStateException("cannot print the resolved config", e);
    }
  }
}
