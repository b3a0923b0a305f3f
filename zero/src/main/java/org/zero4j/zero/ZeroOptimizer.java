package org.zero4j.zero;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.LongArrayRefOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.FlatAdam;
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
 */
public final class ZeroOptimizer implements AutoCloseable {

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
  private final OptimizerShard shard;
  private final GradientReducer grads;

  /**
   * Takes over {@code params} (trainable, all of the working precision): their data moves into a
   * flat buffer and their gradients are managed from now on.
   */
  public ZeroOptimizer(
      List<NamedParameter> params, Options options, Collectives comm, FlatAdam adam) {
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
    boolean partitioned = options.stage() >= 1;
    this.shard =
        partitioned
            ? OptimizerShard.partition(working, layout, comm.rank())
            : OptimizerShard.whole(working);
    this.grads =
        options.stage() == 2
            ? new GradStream(
                this.params,
                layout,
                comm,
                options.working(),
                options.wire(),
                options.reduceScatter(),
                options.overlapComm(),
                options.ignoreUnusedParameters())
            : new GradBuffer(
                this.params,
                layout,
                comm,
                options.working(),
                options.wire(),
                partitioned,
                options.reduceScatter());
  }

  /** Call before each micro-step's backward. */
  public void beforeBackward() {
    grads.beforeBackward();
  }

  /** Call after each micro-step's backward. */
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
  public StepResult step(AdamHyperparams hp, long adamStep, double lossScale, double clipNorm) {
    try (Tensor grad32 = averagedFp32(lossScale)) {
      double norm = globalNorm(grad32);
      if (!Double.isFinite(norm)) {
        return new StepResult(true, norm, 1.0);
      }
      double coef = 1.0;
      if (clipNorm > 0) {
        double c = clipNorm / (norm + 1e-6);
        if (c < 1) {
          coef = c;
          grad32.mul_(new Scalar(coef));
        }
      }
      shard.update(adam, grad32, hp, adamStep);
      writeBack();
      return new StepResult(false, norm, coef);
    } finally {
      grads.zero();
    }
  }

  private Tensor averagedFp32(double lossScale) {
    Tensor summed = grads.reduced();
    Tensor g = summed.to(torch.ScalarType.Float, false, true, new MemoryFormatOptional());
    g.mul_(new Scalar(1.0 / (comm.worldSize() * lossScale)));
    return g;
  }

  private double globalNorm(Tensor grad32) {
    double sumSq;
    try (Tensor n =
        torch.linalg_vector_norm(
            grad32,
            new Scalar(2.0),
            new LongArrayRefOptional(),
            false,
            new ScalarTypeOptional(torch.ScalarType.Double))) {
      double local = n.item_double();
      sumSq = local * local;
    }
    if (options.stage() >= 1 && comm.worldSize() > 1) {
      try (Tensor t = torch.full(new long[] {1}, new Scalar(sumSq))) {
        Tensor d = t.to(torch.ScalarType.Double);
        comm.allReduce(d).await();
        sumSq = d.item_double();
      }
    }
    return Math.sqrt(sumSq);
  }

  private void writeBack() {
    if (options.stage() == 0) {
      if (!shard.masterIsWorkingCopy()) {
        working.flat().copy_(shard.master());
      }
      return;
    }
    working.gatherFromShards(
        shard.master(), comm, options.allgatherBucketNumel(), options.allgatherPartitions());
  }

  /**
   * Checkpoint support: rewrites the working parameters from the fp32 master shards, exactly as
   * after an update, once a load has replaced the masters. Collective at stages 1 and 2 (every rank
   * calls it); at stage 0 in fp32 the master is the working copy and nothing moves.
   */
  public void refreshWorkingFromMaster() {
    writeBack();
  }

  /**
   * Checkpoint support: re-derives this rank's fp32 master shard from the working parameters, once
   * a load has replaced only the model's weights (DeepSpeed's {@code refresh_fp32_params}). Local:
   * every rank already holds the full working parameters at stages 0 to 2.
   */
  public void refreshMasterFromWorking() {
    if (options.stage() == 0) {
      if (!shard.masterIsWorkingCopy()) {
        shard.master().copy_(working.flat());
      }
      return;
    }
    for (ShardLayout.Bucket b : layout.buckets()) {
      long chunk = b.chunk(layout.worldSize());
      shard
          .master()
          .narrow(0, b.shardOffset(), chunk)
          .copy_(working.flat().narrow(0, layout.chunkStart(b, comm.rank()), chunk));
    }
  }

  /** Bytes of model state held by this rank. */
  public MemoryBreakdown memory() {
    return new MemoryBreakdown(
        working.bytes(), grads.bytes(), shard.masterBytes(), shard.momentBytes());
  }

  /** The layout of the flat buffers. */
  public ShardLayout layout() {
    return layout;
  }

  /** The managed parameters, in registration order. */
  public List<NamedParameter> parameters() {
    return params;
  }

  /** The options this optimizer runs with. */
  public Options options() {
    return options;
  }

  /** This rank's fp32 master shard (the whole flat buffer at stage 0). */
  public Tensor masterShard() {
    return shard.master();
  }

  /** This rank's Adam moments, same layout as {@link #masterShard()}. */
  public List<Tensor> moments() {
    List<Tensor> out = new ArrayList<>();
    out.add(shard.expAvg());
    out.add(shard.expAvgSq());
    return out;
  }

  @Override
  public void close() {
    grads.close();
    shard.close();
  }
}
