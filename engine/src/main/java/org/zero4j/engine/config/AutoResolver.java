package org.zero4j.engine.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Replaces {@code "auto"} values in a config tree before binding, at exactly the keys that Hugging
 * Face's DeepSpeed integration fills ({@code trainer_config_process} and {@code
 * trainer_config_finalize}); {@code "auto"} anywhere else is an error naming the key.
 */
final class AutoResolver {
  /** The keys that accept "auto". */
  static final List<String> AUTO_KEYS =
      List.of(
          "train_batch_size",
          "train_micro_batch_size_per_gpu",
          "gradient_accumulation_steps",
          "gradient_clipping",
          "optimizer.params.lr",
          "optimizer.params.betas",
          "optimizer.params.eps",
          "optimizer.params.weight_decay",
          "scheduler.params.warmup_min_lr",
          "scheduler.params.warmup_max_lr",
          "scheduler.params.warmup_num_steps",
          "scheduler.params.total_num_steps",
          "fp16.enabled",
          "bf16.enabled",
          "bfloat16.enabled",
          "zero_optimization.reduce_bucket_size",
          "zero_optimization.stage3_prefetch_bucket_size",
          "zero_optimization.stage3_param_persistence_threshold",
          "zero_optimization.stage3_gather_16bit_weights_on_model_save");

  private static final JsonNodeFactory F = JsonNodeFactory.instance;

  private final ObjectNode root;
  private final int worldSize;
  private final AutoValues autos;
  private final List<String> resolved = new ArrayList<>();

  private AutoResolver(ObjectNode root, int worldSize, AutoValues autos) {
    this.root = root;
    this.worldSize = worldSize;
    this.autos = autos;
  }

  /**
   * Substitutes every "auto" in {@code root} in place and returns one line per substitution ({@code
   * "train_micro_batch_size_per_gpu = 8 (default)"}).
   */
  static List<String> resolve(ObjectNode root, int worldSize, AutoValues autos) {
    AutoResolver r = new AutoResolver(root, worldSize, autos);
    r.rejectMisplaced(root, "");
    r.resolveAll();
    return List.copyOf(r.resolved);
  }

  private void rejectMisplaced(JsonNode node, String path) {
    if (isAuto(node) && !AUTO_KEYS.contains(path)) {
      throw new IllegalArgumentException(
          path
              + ": \"auto\" is not accepted here; DeepSpeed's Hugging Face integration fills \"auto\""
              + " only for: "
              + String.join(", ", AUTO_KEYS)
              + ". Write a value instead");
    }
    if (node.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        rejectMisplaced(e.getValue(), path.isEmpty() ? e.getKey() : path + "." + e.getKey());
      }
    } else if (node.isArray()) {
      for (int i = 0; i < node.size(); i++) {
        rejectMisplaced(node.get(i), path + "[" + i + "]");
      }
    }
  }

  private void resolveAll() {
    set(
        "train_micro_batch_size_per_gpu",
        F.numberNode(autos.microOrDefault()),
        src(autos.microBatchSize(), "microBatchSize"));
    set(
        "gradient_accumulation_steps",
        F.numberNode(autos.gasOrDefault()),
        src(autos.gradientAccumulationSteps(), "gradientAccumulationSteps"));
    if (isAuto(root.get("train_batch_size"))) {
      long micro = concreteOr(root.get("train_micro_batch_size_per_gpu"), autos.microOrDefault());
      long gas = concreteOr(root.get("gradient_accumulation_steps"), autos.gasOrDefault());
      set(
          "train_batch_size",
          F.numberNode(micro * gas * worldSize),
          "micro batch " + micro + " * accumulation " + gas + " * world size " + worldSize);
    }
    set(
        "gradient_clipping",
        F.numberNode(orElse(autos.maxGradNorm(), 1.0)),
        src(autos.maxGradNorm(), "maxGradNorm"));
    set("optimizer.params.lr", F.numberNode(autos.lrOrDefault()), src(autos.lr(), "lr"));
    ArrayNode betas = F.arrayNode();
    betas.add(orElse(autos.beta1(), 0.9)).add(orElse(autos.beta2(), 0.999));
    set("optimizer.params.betas", betas, src(autos.beta1(), "beta1/beta2"));
    set("optimizer.params.eps", F.numberNode(orElse(autos.eps(), 1e-8)), src(autos.eps(), "eps"));
    set(
        "optimizer.params.weight_decay",
        F.numberNode(orElse(autos.weightDecay(), 0.0)),
        src(autos.weightDecay(), "weightDecay"));
    set("scheduler.params.warmup_min_lr", F.numberNode(0.0), "Hugging Face fills 0");
    set("scheduler.params.warmup_max_lr", F.numberNode(autos.lrOrDefault()), src(autos.lr(), "lr"));
    set(
        "scheduler.params.warmup_num_steps",
        F.numberNode(autos.warmupSteps() != null ? autos.warmupSteps() : 0L),
        src(autos.warmupSteps(), "warmupSteps"));
    if (isAuto(at("scheduler.params.total_num_steps")) && autos.totalSteps() == null) {
      throw new IllegalArgumentException(
          "scheduler.params.total_num_steps: \"auto\" needs the run's optimizer step count; pass"
              + " AutoValues.totalSteps to initialize or write a number");
    }
    set(
        "scheduler.params.total_num_steps",
        F.numberNode(orElse(autos.totalSteps(), 0L)),
        "AutoValues.totalSteps");
    set("fp16.enabled", F.booleanNode(orElse(autos.fp16(), false)), src(autos.fp16(), "fp16"));
    set("bf16.enabled", F.booleanNode(orElse(autos.bf16(), false)), src(autos.bf16(), "bf16"));
    set("bfloat16.enabled", F.booleanNode(orElse(autos.bf16(), false)), src(autos.bf16(), "bf16"));
    resolveHiddenSizeKeys();
    set(
        "zero_optimization.stage3_gather_16bit_weights_on_model_save",
        F.booleanNode(false),
        "DeepSpeed default");
  }

  // Note [hidden-size autos]: Hugging Face derives three bucket sizes from the model's hidden size
  // h, the last two only at stage 3; DeepSpeed itself drops an unfilled "auto" and uses the
  // field's default, which is what happens here when no hidden size is given or below stage 3.
  private void resolveHiddenSizeKeys() {
    Integer h = autos.hiddenSize();
    JsonNode stageNode = at("zero_optimization.stage");
    boolean stage3 = stageNode != null && stageNode.isNumber() && stageNode.asInt() == 3;
    String why = h == null ? "DeepSpeed default, no hidden size given" : null;
    long hh = h == null ? 0 : (long) h * h;
    set(
        "zero_optimization.reduce_bucket_size",
        F.numberNode(h == null ? 500_000_000L : hh),
        h == null ? why : "hidden size " + h + " squared");
    String notStage3 = "DeepSpeed default below stage 3";
    set(
        "zero_optimization.stage3_prefetch_bucket_size",
        F.numberNode(h == null || !stage3 ? 50_000_000L : (long) Math.floor(0.9 * hh)),
        h == null ? why : stage3 ? "0.9 * hidden size squared" : notStage3);
    set(
        "zero_optimization.stage3_param_persistence_threshold",
        F.numberNode(h == null || !stage3 ? 100_000L : 10L * h),
        h == null ? why : stage3 ? "10 * hidden size" : notStage3);
  }

  private void set(String dotted, JsonNode value, String source) {
    int dot = dotted.lastIndexOf('.');
    JsonNode parent = dot < 0 ? root : at(dotted.substring(0, dot));
    String name = dotted.substring(dot + 1);
    if (parent instanceof ObjectNode obj && isAuto(obj.get(name))) {
      obj.set(name, value);
      resolved.add(dotted + " = " + value + " (" + source + ")");
    }
  }

  private JsonNode at(String dotted) {
    JsonNode n = root;
    for (String part : dotted.split("\\.")) {
      n = n == null ? null : n.get(part);
    }
    return n;
  }

  private static boolean isAuto(JsonNode n) {
    return n != null && n.isTextual() && n.textValue().equals("auto");
  }

  private static long concreteOr(JsonNode n, long dflt) {
    return n != null && n.isNumber() ? n.asLong() : dflt;
  }

  private static String src(Object given, String field) {
    return given != null ? "AutoValues." + field : "default for AutoValues." + field;
  }

  private static <T> T orElse(T v, T dflt) {
    return v != null ? v : dflt;
  }
}
