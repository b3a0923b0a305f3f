package org.zero4j.zero;

/**
 * The ZeRO stage 3 keys of {@code zero_optimization}. Each key is accepted with and without its
 * {@code stage3_} prefix, as in DeepSpeed; the prefixed spelling wins when both are given.
 *
 * @param prefetchBucketSize {@code stage3_prefetch_bucket_size}: parameter elements fetched ahead
 *     of use, >= 0 (default 5e7)
 * @param paramPersistenceThreshold {@code stage3_param_persistence_threshold}: parameters smaller
 *     than this stay unpartitioned, >= 0 (default 1e5)
 * @param modelPersistenceThreshold {@code stage3_model_persistence_threshold}: upper bound on the
 *     unpartitioned elements, >= 0 (default Long.MAX_VALUE, DeepSpeed's sys.maxsize)
 * @param maxLiveParameters {@code stage3_max_live_parameters}: gathered elements kept resident per
 *     rank before releasing, >= 0 (default 1e9)
 * @param maxReuseDistance {@code stage3_max_reuse_distance}: do not release a parameter reused
 *     within this many elements, >= 0 (default 1e9)
 * @param gather16bitWeightsOnModelSave {@code stage3_gather_16bit_weights_on_model_save}: let the
 *     engine's {@code save16bitModel} gather the full 16-bit weights, one unit at a time (default
 *     false: it refuses at stage 3, as DeepSpeed's declines)
 * @param moduleGranularityThreshold {@code stage3_module_granularity_threshold}: modules finer than
 *     this are fetched as one unit (default 0, off)
 * @param useAllReduceForFetchParams {@code stage3_use_all_reduce_for_fetch_params}: fetch with
 *     all-reduce instead of all-gather (default false)
 * @param allgatherSequential {@code stage3_allgather_sequential}: gather parameters one by one,
 *     without buckets (default false)
 */
public record Stage3Config(
    long prefetchBucketSize,
    long paramPersistenceThreshold,
    long modelPersistenceThreshold,
    long maxLiveParameters,
    long maxReuseDistance,
    boolean gather16bitWeightsOnModelSave,
    long moduleGranularityThreshold,
    boolean useAllReduceForFetchParams,
    boolean allgatherSequential) {

  /** DeepSpeed's defaults. */
  public static final Stage3Config DEFAULT =
      new Stage3Config(
          50_000_000L,
          100_000L,
          Long.MAX_VALUE,
          1_000_000_000L,
          1_000_000_000L,
          false,
          0,
          false,
          false);

  public Stage3Config {
    nonNegative("stage3_prefetch_bucket_size", prefetchBucketSize);
    nonNegative("stage3_param_persistence_threshold", paramPersistenceThreshold);
    nonNegative("stage3_model_persistence_threshold", modelPersistenceThreshold);
    nonNegative("stage3_max_live_parameters", maxLiveParameters);
    nonNegative("stage3_max_reuse_distance", maxReuseDistance);
  }

  static void nonNegative(String key, long value) {
    if (value < 0) {
      throw new IllegalArgumentException(
          "zero_optimization." + key + " must be >= 0, got " + value);
    }
  }
}
