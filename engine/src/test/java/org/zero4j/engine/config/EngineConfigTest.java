package org.zero4j.engine.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.zero4j.engine.schedule.LrSchedule;
import org.zero4j.engine.schedule.WarmupDecayLRConfig;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.zero.Precision;
import org.zero4j.zero.ZeroConfig;

class EngineConfigTest {
  private static EngineConfig load(String json, int world) {
    return EngineConfig.load(json, world, AutoValues.NONE);
  }

  private static String error(String json, int world) {
    return assertThrows(IllegalArgumentException.class, () -> load(json, world)).getMessage();
  }

  @Test
  void batchDerivationFollowsDeepSpeed() {
    EngineConfig a = load("{\"train_batch_size\": 32, \"train_micro_batch_size_per_gpu\": 4}", 4);
    assertEquals(2, a.gradientAccumulationSteps());
    EngineConfig b = load("{\"train_batch_size\": 48, \"gradient_accumulation_steps\": 3}", 4);
    assertEquals(4, b.microBatchPerGpu());
    EngineConfig c =
        load("{\"train_micro_batch_size_per_gpu\": 5, \"gradient_accumulation_steps\": 3}", 2);
    assertEquals(30, c.trainBatchSize());
    EngineConfig d = load("{\"train_batch_size\": 12}", 3);
    assertEquals(
        List.of(12, 4, 1),
        List.of(d.trainBatchSize(), d.microBatchPerGpu(), d.gradientAccumulationSteps()));
    EngineConfig e = load("{\"train_micro_batch_size_per_gpu\": 7}", 2);
    assertEquals(
        List.of(14, 7, 1),
        List.of(e.trainBatchSize(), e.microBatchPerGpu(), e.gradientAccumulationSteps()));
  }

  @Test
  void inconsistentBatchShowsTheNumbers() {
    String m =
        error(
            "{\"train_batch_size\": 33, \"train_micro_batch_size_per_gpu\": 17,"
                + " \"gradient_accumulation_steps\": 2}",
            1);
    assertTrue(m.contains("train_batch_size 33 != 17 * 2 * 1"), m);
    // Derived by integer division, then checked: 32 / 5 / 2 = 3, and 5 * 3 * 2 != 32.
    String d = error("{\"train_batch_size\": 32, \"train_micro_batch_size_per_gpu\": 5}", 2);
    assertTrue(d.contains("train_batch_size 32 != 5 * 3 * 2"), d);
    assertTrue(
        error("{}", 1).contains("either train_batch_size or train_micro_batch_size_per_gpu"));
  }

  @Test
  void scientificNotationIsAnInteger() {
    EngineConfig c =
        load(
            "{\"train_batch_size\": 4, \"zero_optimization\": {\"stage\": 2,"
                + " \"reduce_bucket_size\": 5e8, \"allgather_bucket_size\": \"2e8\","
                + " \"stage3_max_live_parameters\": 1.5E3}}",
            1);
    assertEquals(500_000_000L, c.zero().reduceBucketSize());
    assertEquals(200_000_000L, c.zero().allgatherBucketSize());
    assertEquals(1500L, c.zero().stage3().maxLiveParameters());
    String m =
        error("{\"train_batch_size\": 4, \"zero_optimization\": {\"sub_group_size\": 5.5}}", 1);
    assertTrue(m.startsWith("zero_optimization.sub_group_size: expected an integer"), m);
  }

  @Test
  void defaultsMatchDeepSpeed() {
    EngineConfig c = load("{\"train_batch_size\": 2}", 1);
    assertEquals(1.0, c.gradientClipping());
    assertEquals(Precision.FP32, c.precision());
    assertNull(c.communicationDataType());
    assertNull(c.optimizer());
    assertNull(c.scheduler());
    assertEquals(ZeroConfig.DEFAULT, c.zero());
    assertEquals(Fp16Config.DEFAULT, c.fp16());
    assertEquals(65536.0, c.fp16().initialLossScale());
    assertEquals(300, c.collectiveTimeoutSeconds());
    assertEquals(0, c.stepsPerPrint());
    assertEquals(CheckpointConfig.TagValidation.WARN, c.checkpoint().tagValidation());
    assertTrue(c.unsupportedFeatures().isEmpty());
    assertTrue(c.warnings().isEmpty());
    // overlap_comm defaults to true only at stage 3.
    assertTrue(
        load("{\"train_batch_size\": 2, \"zero_optimization\": {\"stage\": 3}}", 1)
            .zero()
            .overlapComm());
  }

  @Test
  void optimizerSemanticsFollowDeepSpeed() {
    AdamHyperparams adam =
        load("{\"train_batch_size\": 2, \"optimizer\": {\"type\": \"ADAM\"}}", 1)
            .optimizer()
            .hyperparams();
    assertEquals(new AdamHyperparams(1e-3, 0.9, 0.999, 1e-8, 0.0, true, true), adam);
    AdamHyperparams l2 =
        load(
                "{\"train_batch_size\": 2, \"optimizer\": {\"type\": \"Adam\", \"params\":"
                    + " {\"adam_w_mode\": false, \"weight_decay\": 0.1, \"betas\": [0.8, 0.95]}}}",
                1)
            .optimizer()
            .hyperparams();
    assertFalse(l2.adamWMode());
    assertEquals(0.8, l2.beta1());
    assertEquals(0.95, l2.beta2());
    // Type AdamW ignores adam_w_mode false: always decoupled.
    assertTrue(
        load(
                "{\"train_batch_size\": 2, \"optimizer\": {\"type\": \"AdamW\", \"params\":"
                    + " {\"adam_w_mode\": false}}}",
                1)
            .optimizer()
            .hyperparams()
            .adamWMode());
    // torch_adam selects torch.optim.AdamW, whose default weight decay is 0.01.
    EngineConfig torch =
        load(
            "{\"train_batch_size\": 2, \"optimizer\": {\"type\": \"AdamW\","
                + " \"params\": {\"torch_adam\": true}}}",
            1);
    assertEquals(0.01, torch.optimizer().hyperparams().weightDecay());
    assertTrue(torch.optimizer().torchAdam());
  }

  @Test
  void otherOptimizerTypesAreValidButUnsupported() {
    EngineConfig c = load("{\"train_batch_size\": 2, \"optimizer\": {\"type\": \"Lamb\"}}", 1);
    assertNull(c.optimizer());
    assertEquals(
        List.of("optimizer.type Lamb is not supported yet (supported: Adam, AdamW)"),
        c.unsupportedFeatures());
  }

  @Test
  void autoValuesAreFilledFromTheProgramOrDefaults() {
    String json =
        "{\"train_batch_size\": \"auto\", \"train_micro_batch_size_per_gpu\": \"auto\","
            + " \"gradient_accumulation_steps\": \"auto\", \"gradient_clipping\": \"auto\","
            + " \"bf16\": {\"enabled\": \"auto\"}, \"optimizer\": {\"type\": \"AdamW\","
            + " \"params\": {\"lr\": \"auto\", \"betas\": \"auto\", \"eps\": \"auto\","
            + " \"weight_decay\": \"auto\"}}, \"scheduler\": {\"type\": \"WarmupDecayLR\","
            + " \"params\": {\"warmup_min_lr\": \"auto\", \"warmup_max_lr\": \"auto\","
            + " \"warmup_num_steps\": \"auto\", \"total_num_steps\": \"auto\"}},"
            + " \"zero_optimization\": {\"stage\": 3, \"reduce_bucket_size\": \"auto\","
            + " \"stage3_prefetch_bucket_size\": \"auto\","
            + " \"stage3_param_persistence_threshold\": \"auto\"}}";
    AutoValues autos =
        AutoValues.NONE
            .withMicroBatchSize(3)
            .withGradientAccumulationSteps(2)
            .withLr(2e-4)
            .withWarmupSteps(7L)
            .withTotalSteps(70L)
            .withHiddenSize(64)
            .withPrecision(false, true);
    EngineConfig c = EngineConfig.load(json, 4, autos);
    assertEquals(24, c.trainBatchSize());
    assertEquals(3, c.microBatchPerGpu());
    assertEquals(2, c.gradientAccumulationSteps());
    assertEquals(1.0, c.gradientClipping());
    assertEquals(Precision.BF16, c.precision());
    assertEquals(
        new AdamHyperparams(2e-4, 0.9, 0.999, 1e-8, 0, true, true), c.optimizer().hyperparams());
    assertEquals(
        new WarmupDecayLRConfig(70, 0.0, 2e-4, 7, org.zero4j.engine.schedule.WarmupType.LOG),
        c.scheduler());
    assertEquals(64L * 64, c.zero().reduceBucketSize());
    assertEquals((long) Math.floor(0.9 * 64 * 64), c.zero().stage3().prefetchBucketSize());
    assertEquals(640L, c.zero().stage3().paramPersistenceThreshold());
    assertEquals(16, c.autoKeys().size(), c.autoKeys().toString());

    // Nothing known: Hugging Face's TrainingArguments defaults (micro 8, lr 5e-5) and DeepSpeed's.
    EngineConfig d =
        EngineConfig.load(json, 2, AutoValues.NONE.withWarmupSteps(5L).withTotalSteps(50L));
    assertEquals(16, d.trainBatchSize());
    assertEquals(5e-5, d.optimizer().hyperparams().lr());
    assertEquals(500_000_000L, d.zero().reduceBucketSize());
    assertEquals(Precision.FP32, d.precision());
  }

  @Test
  void autoOutsideTheHfKeysIsAnError() {
    String m = error("{\"train_batch_size\": 2, \"steps_per_print\": \"auto\"}", 1);
    assertTrue(m.startsWith("steps_per_print: \"auto\" is not accepted here"), m);
  }

  @Test
  void duplicateKeysAreRejectedWithTheirPath() {
    String m =
        error("{\"train_batch_size\": 2, \"fp16\": {\"enabled\": true, \"enabled\": false}}", 1);
    assertTrue(m.startsWith("fp16.enabled: duplicate key at line 1"), m);
  }

  @Test
  void deprecatedNamesMapWithWarnings() {
    EngineConfig c =
        load(
            "{\"train_batch_size\": 2, \"zero_optimization\": {\"stage\": 2,"
                + " \"cpu_offload\": true, \"stage3_gather_fp16_weights_on_model_save\": true},"
                + " \"aio\": {\"thread_count\": 4}}",
            1);
    assertEquals(OffloadDevice.CPU, c.zero().offloadOptimizer().device());
    assertTrue(c.zero().stage3().gather16bitWeightsOnModelSave());
    assertEquals(4, c.aio().intraOpParallelism());
    assertEquals(3, c.warnings().size(), c.warnings().toString());
    assertTrue(c.warnings().get(0).contains("zero_optimization.cpu_offload is deprecated"));
    assertTrue(c.warnings().stream().anyMatch(w -> w.contains("aio.thread_count was renamed")));
    assertEquals(List.of(), c.unsupportedFeatures());
  }

  @Test
  void stage3AliasesAndUnsupportedFeatures() {
    EngineConfig c =
        load(
            "{\"train_batch_size\": 2, \"zero_optimization\": {\"stage\": 3,"
                + " \"max_live_parameters\": 11, \"stage3_max_reuse_distance\": 12,"
                + " \"prefetch_bucket_size\": 13, \"stage3_prefetch_bucket_size\": 14},"
                + " \"tensorboard\": {\"enabled\": true}, \"checkpoint\": {\"load_universal\": true},"
                + " \"csv_monitor\": {\"enabled\": true}, \"wall_clock_breakdown\": true,"
                + " \"steps_per_print\": 5}",
            1);
    assertEquals(11, c.zero().stage3().maxLiveParameters());
    assertEquals(12, c.zero().stage3().maxReuseDistance());
    assertEquals(14, c.zero().stage3().prefetchBucketSize());
    assertEquals(
        java.util.Set.of(
            "tensorboard.enabled=true is not supported yet",
            "checkpoint.load_universal=true is not supported yet"),
        java.util.Set.copyOf(c.unsupportedFeatures()));
    assertEquals(2, c.unsupportedFeatures().size());
    assertTrue(c.csvMonitor().enabled());
    assertEquals(5, c.stepsPerPrint());
    assertTrue(c.wallClockBreakdown());
  }

  @Test
  void unknownTopLevelKeyWarnsWithSuggestion() {
    EngineConfig c = load("{\"train_batch_size\": 2, \"gradient_cliping\": 0.5}", 1);
    assertEquals(1.0, c.gradientClipping());
    assertEquals(1, c.warnings().size());
    assertTrue(
        c.warnings().get(0).contains("did you mean gradient_clipping?"), c.warnings().get(0));
  }

  @Test
  void schedulerFromConfigUsesOptimizerLrWhenMaxIsAbsent() {
    EngineConfig c =
        load(
            "{\"train_batch_size\": 2, \"optimizer\": {\"type\": \"AdamW\", \"params\":"
                + " {\"lr\": 0.02}}, \"scheduler\": {\"type\": \"WarmupLR\", \"params\":"
                + " {\"warmup_num_steps\": 10, \"warmup_type\": \"linear\"}}}",
            1);
    LrSchedule s = c.scheduler().build(c.optimizer().hyperparams().lr());
    assertEquals(0.0, s.lrAt(0));
    assertEquals(0.02 * 4 / 10, s.lrAt(5), 1e-15);
    assertEquals(0.02, s.lrAt(11));
  }

  @Test
  void prettyJsonRoundTripsTheResolvedValues() {
    EngineConfig c =
        load(
            "{\"train_batch_size\": 8, \"bf16\": {\"enabled\": true}, \"zero_optimization\":"
                + " {\"stage\": 2, \"reduce_bucket_size\": 1000}}",
            2);
    var tree = JsonTrees.parse(c.toPrettyJson());
    assertEquals(4, tree.get("train_micro_batch_size_per_gpu").asInt());
    assertEquals(1000, tree.get("zero_optimization").get("reduce_bucket_size").asLong());
    assertTrue(tree.get("bf16").get("enabled").asBoolean());
  }
}
