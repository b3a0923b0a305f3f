package org.zero4j.zero;

import java.util.List;
import java.util.function.ObjIntConsumer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.FlatAdam;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.zero.comm.Collectives;

/**
 * ZeRO stages 0, 1 and 2 over one model's trainable parameters.
 *
 * <ul>
 *   <li>Stage 0: plain data parallelism. Full gradients are all-reduced; every rank keeps and
 *       updates the full fp32 master weights and Adam moments.
 *   <li>Stage 1: full gradients are reduce-scattered at the accumulation boundary; each rank keeps
 *       and updates only its shard of master weights and moments, then the updated shards are
 *       all-gathered into every rank's working parameters.
 *   <li>Stage 2: as stage 1, but gradients are reduce-scattered bucket by bucket during backward
 *       and only the shard's gradient is kept ({@link GradStream}).
 * </ul>
 *
 * <p>A step: sum gradients over ranks, divide by {@code worldSize * lossScale} into an fp32 copy,
 * compute the global norm (all-reduced over shards), skip the step on inf/NaN, clip to the
 * configured norm, run the {@link FlatAdam} update over the shard, and write the result back to the
 * working parameters.
 *
 * <p>At stages 1 and 2 the shard's state can be offloaded ({@link OptimizerOffload}): to host
 * memory, or to a swap file on NVMe that is updated sub-group by sub-group ({@link
 * SwappedOptimizerShard}); with NVMe the state is reached through {@link #readState} and {@link
 * #writeState} only.
 */
public final class ZeroOptimizer implements ZeroRuntime {

  /**
   * How the optimizer shards and communicates.
   *
   * @param stage ZeRO stage, 0 to 2
   * @param working precision of the model's parameters and gradients
   * @param wire precision gradients are reduced in ({@code communication_data_type})
   * @param reduceBucketNumel elements per gradient bucket ({@code reduce_bucket_size})
   * @param allgatherBucketNumel elements of updated shards in flight at once ({@code
   *     allgather_bucket_size})
   * @param overlapComm stage 2: reduce buckets while backward continues
   * @param reduceScatter reduce with reduce-scatter (true) or all-reduce then slice (false)
   * @param allgatherPartitions gather updated shards with all-gather (true) or one broadcast per
   *     rank (false)
   * @param ignoreUnusedParameters stage 2: treat a parameter that got no gradient in a backward as
   *     having a zero gradient (true), or fail naming it (false)
   */
  public record Options(
      int stage,
      Precision working,
      Precision wire,
      long reduceBucketNumel,
      long allgatherBucketNumel,
      boolean overlapComm,
      boolean reduceScatter,
      boolean allgatherPartitions,
      boolean ignoreUnusedParameters) {

    public Options {
      if (stage < 0 || stage > 2) {
        throw new IllegalArgumentException("ZeroOptimizer handles stages 0-2, got " + stage);
      }
      if (reduceBucketNumel < 1 || allgatherBucketNumel < 1) {
        throw new IllegalArgumentException("bucket sizes must be >= 1 element");
      }
    }
  }

  private final Options options;
  private final Collectives comm;
  private final FlatAdam adam;
  private final List<NamedParameter> params;
  private final ShardLayout layout;
  private final FlatParams working;
  private final FlatShardState partitions;
  private final OptimizerState state;
  private final boolean swapped;
  private final OptimizerOffload offload;
  private final GradientReducer grads;
  private final StepGradient gradient;

  /**
   * Takes over {@code params} (trainable, all of the working precision): their data moves into a
   * flat buffer and their gradients are managed from now on.
   */
  public ZeroOptimizer(
      List<NamedParameter> params, Options options, Collectives comm, FlatAdam adam) {
    this(params, options, comm, adam, OptimizerOffload.NONE);
  }

  /**
   * As {@link #ZeroOptimizer(List, Options, Collectives, FlatAdam)}, with the optimizer state kept
   * where {@code offload} says: in memory, in host memory ({@code cpu}), or in a swap file under
   * {@code nvme_path} ({@code nvme}, created here and deleted by {@link #close()}).
   *
   * @throws IllegalArgumentException for offload at stage 0 (DeepSpeed's rule), or a bad {@code
   *     nvme_path} (missing, not a directory, not writable, too little free space)
   */
  public ZeroOptimizer(
      List<NamedParameter> params,
      Options options,
      Collectives comm,
      FlatAdam adam,
      OptimizerOffload offload) {
    if (offload.device() != OffloadDevice.NONE && options.stage() == 0) {
      throw new IllegalArgumentException(
          "zero_optimization.offload_optimizer.device="
              + offload.device().jsonName()
              + " needs ZeRO stage 1, 2 or 3 (DeepSpeed: offload is only available with ZeRO"
              + " enabled); set zero_optimization.stage to 1 or 2, or remove offload_optimizer");
    }
    this.offload = offload;
    if (params.isEmpty()) {
      throw new IllegalArgumentException("the model has no trainable parameters");
    }
    this.options = options;
    this.comm = comm;
    this.adam = adam;
    this.params = List.copyOf(params);
    long[] numels = new long[params.size()];
    for (int i = 0; i < numels.length; i++) {
      numels[i] = params.get(i).tensor().numel();
    }
    this.layout = ShardLayout.build(numels, comm.worldSize(), options.reduceBucketNumel());
    this.working = new FlatParams(this.params, layout, options.working());
    this.partitions = new FlatShardState(options, this.params, layout, working, comm, offload);
    this.state = partitions.optimizerState();
    this.swapped = state.swapped();
    this.grads = GradientReducer.create(this.params, layout, comm, options);
    this.gradient =
        new StepGradient(grads, comm, options.stage() >= 1, swapped, offload.subGroupSize());
  }

  /** Call before each micro-step's backward. */
  @Override
  public void beforeBackward() {
    grads.beforeBackward();
  }

  /** Call after each micro-step's backward. */
  @Override
  public void afterBackward() {
    grads.afterBackward();
  }

  /**
   * Reduces, unscales, checks for overflow, clips and updates, then clears the gradients.
   *
   * @param hp Adam hyperparameters with this step's learning rate
   * @param adamStep 1-based count of updates actually applied, including this one
   * @param lossScale the loss scale the gradients carry (1 without fp16)
   * @param clipNorm maximum global gradient norm, 0 for no clipping
   */
  @Override
  public StepResult step(AdamHyperparams hp, long adamStep, double lossScale, double clipNorm) {
    try (Tensor grad32 = gradient.averaged(lossScale)) {
      double norm = gradient.globalNorm(grad32);
      if (!Double.isFinite(norm)) {
        return new StepResult(true, norm, 1.0);
      }
      double coef = GradientNorm.clipCoefficient(norm, clipNorm);
      if (coef < 1) {
        grad32.mul_(new Scalar(coef));
      }
      if (swapped) {
        updateSwapped(grad32, hp, adamStep);
      } else {
        state.update(adam, (from, n) -> grad32.narrow(0, from, n), hp, adamStep, (f, m) -> {});
        partitions.writeBack();
      }
      return new StepResult(false, norm, coef);
    } finally {
      grads.zero();
    }
  }

  private void updateSwapped(Tensor grad32, AdamHyperparams hp, long adamStep) {
    RuntimeException failure = null;
    try {
      state.update(
          adam, (from, n) -> grad32.narrow(0, from, n), hp, adamStep, partitions::intoWorkingCopy);
    } catch (RuntimeException e) {
      failure = e;
    }
    agreeOnSwapFailure(failure);
    partitions.gatherOwnChunks();
  }

  // Note [swap failure agreement]: a rank whose swap I/O failed (a full disk) must not leave its
  // peers waiting in the all-gather that follows; one 1-element all-reduce tells every rank, and
  // all of them stop with the failing rank's error or a message pointing at it.
  private void agreeOnSwapFailure(RuntimeException failure) {
    if (comm.worldSize() > 1) {
      try (Tensor flag = torch.full(new long[] {1}, new Scalar(failure == null ? 0.0 : 1.0))) {
        comm.allReduce(flag).await();
        if (failure == null && flag.item_double() > 0) {
          throw new IllegalStateException(
              "another rank's NVMe optimizer swap failed during this step (see its error);"
                  + " training stops on every rank");
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
  }

  @Override
  public void refreshWorkingFromMaster() {
    partitions.refreshWorkingFromMaster();
  }

  @Override
  public void refreshMasterFromWorking() {
    partitions.refreshMasterFromWorking();
  }

  @Override
  public long[] shape(int param) {
    return partitions.shape(param);
  }

  @Override
  public int stage() {
    return options.stage();
  }

  @Override
  public List<StateFragment> savedFragments(int rank) {
    return partitions.savedFragments(rank);
  }

  @Override
  public List<StateFragment> heldFragments() {
    return partitions.heldFragments();
  }

  @Override
  public List<Integer> streamOrder() {
    return partitions.streamOrder();
  }

  @Override
  public void streamParameters(int root, ObjIntConsumer<Tensor> visitor) {
    partitions.streamParameters(root, visitor);
  }

  @Override
  public List<Block> blocks() {
    return partitions.blocks();
  }

  /** Bytes of model state held by this rank, and where they live. */
  @Override
  public MemoryBreakdown memory() {
    return partitions.memory(grads.bytes());
  }

  /** Where the optimizer state lives. */
  public OptimizerOffload offload() {
    return offload;
  }

  @Override
  public OptimizerState optimizerState() {
    return state;
  }

  /** The layout of the flat buffers. */
  public ShardLayout layout() {
    return layout;
  }

  /** The managed parameters, in registration order. */
  @Override
  public List<NamedParameter> parameters() {
    return params;
  }

  /** The options this optimizer runs with. */
  public Options options() {
    return options;
  }

  /**
   * This rank's fp32 master shard (the whole flat buffer at stage 0).
   *
   * @throws IllegalStateException with NVMe offload; use {@link #readState} instead
   */
  public Tensor masterShard() {
    return state.inMemory(AdamState.MASTER, "the master shard");
  }

  /**
   * This rank's Adam moments, same layout as {@link #masterShard()}.
   *
   * @throws IllegalStateException with NVMe optimizer offload; use {@link #readState} instead
   */
  public List<Tensor> moments() {
    return List.of(
        state.inMemory(AdamState.EXP_AVG, "the Adam moments"),
        state.inMemory(AdamState.EXP_AVG_SQ, "the Adam moments"));
  }

  @Override
  public void close() {
    try {
      grads.close();
    } finally {
      state.close();
    }
  }
}
