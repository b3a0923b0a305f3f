package org.zero4j.offload;

/**
 * The top-level {@code aio} block: asynchronous I/O settings for NVMe swapping.
 *
 * @param blockSize {@code block_size}: bytes per I/O request, > 0 (default 1048576)
 * @param queueDepth {@code queue_depth}: outstanding requests, > 0 (default 8)
 * @param intraOpParallelism {@code intra_op_parallelism} (formerly {@code thread_count}): I/O
 *     threads per operation, > 0 (default 1)
 * @param singleSubmit {@code single_submit}: submit requests one at a time (default false)
 * @param overlapEvents {@code overlap_events}: overlap submission and completion (default true)
 * @param useGds {@code use_gds}: GPUDirect Storage (default false; CUDA only)
 */
public record AioConfig(
    int blockSize,
    int queueDepth,
    int intraOpParallelism,
    boolean singleSubmit,
    boolean overlapEvents,
    boolean useGds) {

  /** DeepSpeed's defaults. */
  public static final AioConfig DEFAULT = new AioConfig(1048576, 8, 1, false, true, false);

  public AioConfig {
    if (blockSize <= 0) {
      throw new IllegalArgumentException("aio.block_size must be > 0, got " + blockSize);
    }
    if (queueDepth <= 0) {
      throw new IllegalArgumentException("aio.queue_depth must be > 0, got " + queueDepth);
    }
    if (intraOpParallelism <= 0) {
      throw new IllegalArgumentException(
          "aio.intra_op_parallelism must be > 0, got " + intraOpParallelism);
    }
  }
}
