package org.zero4j.zero;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.FlatAdam;

/**
 * The fp32 master weights and Adam moments of the part of the model this rank updates, in memory:
 * the whole flat buffer at stage 0, one shard at stages 1-3 (in host memory with {@code
 * offload_optimizer.device = cpu}).
 */
final class OptimizerShard implements OptimizerState {

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

  /** A master of {@code numel} fp32 elements filled by {@code source}, in one piece. */
  static OptimizerShard filled(long numel, MasterSource source) {
    Tensor master = torch.zeros(numel);
    try {
      source.fill(0, master);
    } catch (RuntimeException e) {
      master.close();
      throw e;
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

  @Override
  public long numel() {
    return master.numel();
  }

  @Override
  @SuppressWarnings("try")
  public void update(FlatAdam adam, Gradient grad, AdamHyperparams hp, long step, Updated updated) {
    try (Tensor g = grad.fp32(0, master.numel())) {
      adam.step(master, expAvg, expAvgSq, g, hp, step);
    }
    updated.accept(0, master);
  }

  @Override
  public void read(AdamState which, long from, Tensor dst) {
    try (Tensor src = tensor(which).narrow(0, from, dst.numel())) {
      dst.copy_(src);
    }
  }

  @Override
  public void write(AdamState which, long from, Tensor src) {
    try (Tensor dst = tensor(which).narrow(0, from, src.numel())) {
      dst.copy_(src);
    }
  }

  @Override
  public Tensor tensor(AdamState which) {
    return switch (which) {
      case MASTER -> master;
      case EXP_AVG -> expAvg;
      case EXP_AVG_SQ -> expAvgSq;
    };
  }

  @Override
  public boolean swapped() {
    return false;
  }

  @Override
  public long hostBytes() {
    return inHostMemory ? masterBytes() + momentBytes() : 0;
  }

  @Override
  public long nvmeBytes() {
    return 0;
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

  @Override
  public long masterBytes() {
    return masterIsWorkingCopy ? 0 : master.nbytes();
  }

  @Override
  public long momentBytes() {
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
