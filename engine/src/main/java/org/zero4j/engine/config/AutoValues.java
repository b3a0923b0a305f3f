package org.zero4j.engine.config;

/**
 * What the program knows at {@code initialize} to fill a config's {@code "auto"} values, as Hugging
 * Face's Trainer does from its {@code TrainingArguments}. Every field is nullable; a null field
 * falls back to the documented default, which is the {@code TrainingArguments} default.
 *
 * @param microBatchSize {@code train_micro_batch_size_per_gpu} (default 8, HF {@code
 *     per_device_train_batch_size})
 * @param gradientAccumulationSteps {@code gradient_accumulation_steps} (default 1)
 * @param lr {@code optimizer.params.lr} and {@code scheduler.params.warmup_max_lr} (default 5e-5,
 *     HF {@code learning_rate})
 * @param beta1 first element of {@code optimizer.params.betas} (default 0.9)
 * @param beta2 second element of {@code optimizer.params.betas} (default 0.999)
 * @param eps {@code optimizer.params.eps} (default 1e-8)
 * @param weightDecay {@code optimizer.params.weight_decay} (default 0)
 * @param maxGradNorm {@code gradient_clipping} (default 1.0)
 * @param warmupSteps {@code scheduler.params.warmup_num_steps} (default 0, HF {@code warmup_steps};
 *     DeepSpeed's warm-up schedulers reject 0, so pass it when the config says "auto")
 * @param totalSteps {@code scheduler.params.total_num_steps}: optimizer steps of the run (no
 *     default: an "auto" total without it is an error)
 * @param hiddenSize the model's hidden size h: {@code zero_optimization.reduce_bucket_size} = h*h
 *     and, at stage 3, {@code stage3_prefetch_bucket_size} = floor(0.9*h*h), {@code
 *     stage3_param_persistence_threshold} = 10*h (default: DeepSpeed's defaults for those keys)
 * @param fp16 {@code fp16.enabled} (default false)
 * @param bf16 {@code bf16.enabled} (default false)
 */
public record AutoValues(
    Integer microBatchSize,
    Integer gradientAccumulationSteps,
    Double lr,
    Double beta1,
    Double beta2,
    Double eps,
    Double weightDecay,
    Double maxGradNorm,
    Long warmupSteps,
    Long totalSteps,
    Integer hiddenSize,
    Boolean fp16,
    Boolean bf16) {

  /** Nothing known: every "auto" takes its documented default. */
  public static final AutoValues NONE =
      new AutoValues(null, null, null, null, null, null, null, null, null, null, null, null, null);

  /**
   * Stand-ins used only by {@code config check} to validate the rest of a config whose "auto"
   * values are left for {@code initialize}: the defaults, with 10 warm-up and 1000 total steps.
   */
  public static final AutoValues CHECK_PLACEHOLDERS =
      NONE.withWarmupSteps(10L).withTotalSteps(1000L);

  /** The same values with {@code train_micro_batch_size_per_gpu} known. */
  public AutoValues withMicroBatchSize(Integer v) {
    Copy c = new Copy(this);
    c.microBatchSize = v;
    return c.build();
  }

  /** The same values with {@code gradient_accumulation_steps} known. */
  public AutoValues withGradientAccumulationSteps(Integer v) {
    Copy c = new Copy(this);
    c.gradientAccumulationSteps = v;
    return c.build();
  }

  /** The same values with the learning rate known. */
  public AutoValues withLr(Double v) {
    Copy c = new Copy(this);
    c.lr = v;
    return c.build();
  }

  /** The same values with the warm-up step count known. */
  public AutoValues withWarmupSteps(Long v) {
    Copy c = new Copy(this);
    c.warmupSteps = v;
    return c.build();
  }

  /** The same values with the run's total optimizer steps known. */
  public AutoValues withTotalSteps(Long v) {
    Copy c = new Copy(this);
    c.totalSteps = v;
    return c.build();
  }

  /** The same values with the model's hidden size known. */
  public AutoValues withHiddenSize(Integer v) {
    Copy c = new Copy(this);
    c.hiddenSize = v;
    return c.build();
  }

  /** The same values with the precision known. */
  public AutoValues withPrecision(Boolean fp16Enabled, Boolean bf16Enabled) {
    Copy c = new Copy(this);
    c.fp16 = fp16Enabled;
    c.bf16 = bf16Enabled;
    return c.build();
  }

  /** A mutable copy, so that each {@code with...} changes one field and keeps the others. */
  private static final class Copy {
    Integer microBatchSize;
    Integer gradientAccumulationSteps;
    Double lr;
    Double beta1;
    Double beta2;
    Double eps;
    Double weightDecay;
    Double maxGradNorm;
    Long warmupSteps;
    Long totalSteps;
    Integer hiddenSize;
    Boolean fp16;
    Boolean bf16;

    Copy(AutoValues a) {
      microBatchSize = a.microBatchSize;
      gradientAccumulationSteps = a.gradientAccumulationSteps;
      lr = a.lr;
      beta1 = a.beta1;
      beta2 = a.beta2;
      eps = a.eps;
      weightDecay = a.weightDecay;
      maxGradNorm = a.maxGradNorm;
      warmupSteps = a.warmupSteps;
      totalSteps = a.totalSteps;
      hiddenSize = a.hiddenSize;
      fp16 = a.fp16;
      bf16 = a.bf16;
    }

    AutoValues build() {
      return new AutoValues(
          microBatchSize,
          gradientAccumulationSteps,
          lr,
          beta1,
          beta2,
          eps,
          weightDecay,
          maxGradNorm,
          warmupSteps,
          totalSteps,
          hiddenSize,
          fp16,
          bf16);
    }
  }

  int microOrDefault() {
    return microBatchSize != null ? microBatchSize : 8;
  }

  int gasOrDefault() {
    return gradientAccumulationSteps != null ? gradientAccumulationSteps : 1;
  }

  double lrOrDefault() {
    return lr != null ? lr : 5e-5;
  }
}
