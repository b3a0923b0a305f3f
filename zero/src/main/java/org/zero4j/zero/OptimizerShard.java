package org.zero4j.zero;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.FlatAdam;

/**
 * The fp32 master weights and Adam moments of the part of the model this rank updates: the whole
 * flat buffer at stage 0, one shard at stages 1 and 2.
 */
final class OptimizerShard implements AutoCloseable {

  private final Tensor master;
  private final boolean masterIsWorkingCopy;
  private final Tensor expAvg;
  private final Tensor expAvgSq;
  private boolean inHostMemory;

  private OptimizerShard(Tensor master, boolean masterIsWorkingCopy) {
    this.master = master;
    this.masterIsWorkingCopy = masterIsWorkingCopy;
    this.expAvg = torch.zeros_like(master);
    this.expAvgSq = torch.zeros_like(master);
  }

  /**
   * Stage 0: the master is the whole flat buffer. In fp32 it <em>is</em> the working copy (as in
   * plain data parallelism, no second copy exists); otherwise an fp32 copy of it.
   */
  static OptimizerShard whole(FlatParams working) {
    if (working.precision() == Precision.FP32) {
      return new OptimizerShard(working.flat(), true);
    }
    return new OptimizerShard(working.flat().to(torch.ScalarType.Float), false);
  }

  /** Stages 1 and 2: an fp32 copy of chunk {@code rank} of every bucket. */
  static OptimizerShard partition(FlatParams working, ShardLayout layout, int rank) {
    Tensor master = torch.zeros(layout.shardNumel());
    for (ShardLayout.Bucket b : layout.buckets()) {
      long chunk = b.chunk(layout.worldSize());
      master
          .narrow(0, b.shardOffset(), chunk)
          .copy_(working.flat().narrow(0, layout.chunkStart(b, rank), chunk));
    }
    return new OptimizerShard(master, false);
  }

  /**
   * Marks the state as offloaded to host memory ({@code offload_optimizer.device = cpu}). On a CPU
   * run the tensors are already in host memory, apart from the working copy; only the accounting
   * changes.
   */
  OptimizerShard inHostMemory() {
    if (masterIsWorkingCopy) {
      throw new IllegalStateException("offloaded optimizer state cannot share the working copy");
    }
    this.inHostMemory = true;
    return this;
  }

  boolean isInHostMemory() {
    return inHostMemory;
  }

  void update(FlatAdam adam, Tensor grad32, AdamHyperparams hp, long step) {
    adam.step(master, expAvg, expAvgSq, grad32, hp, step);
  }

  Tensor master() {
    return master;
  }

  Tensor expAvg() {
    return expAvg;
  }

  Tensor expAvgSq() {
    return expAvgSq;
  }

  boolean masterIsWorkingCopy() {
    return masterIsWorkingCopy;
  }

  long masterBytes() {
    return masterIsWorkingCopy ? 0 : master.nbytes();
  }

  long momentBytes() {
    return expAvg.nbytes() + expAvgSq.nbytes();
  }

  @Override
  public void close() {
    if (!masterIsWorkingCopy) {
      master.close();
    }
    expAvg.close();
    expAvgSq.close();
  }
}
