package org.zero4j.zero.stage3;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.FlatAdam;
import org.zero4j.zero.AdamState;
import org.zero4j.zero.GradientNorm;
import org.zero4j.zero.OptimizerState;
import org.zero4j.zero.StepResult;
import org.zero4j.zero.comm.Collectives;

/**
 * The stage-3 optimizer step over this rank's shard, and every write of master values back into the
 * unit shards (after a step, a checkpoint load, or a modifier rank's edits).
 *
 * <p>The math is that of {@code ZeroOptimizer}'s stages 1-2: divide by {@code worldSize *
 * lossScale}, global norm all-reduced over shards, skip on inf/NaN, clip, {@link FlatAdam} over the
 * shard. The updated chunk is written into each unit's working shard; there is no all-gather at the
 * end of a step except for persistent units, since the next forward gathers each unit.
 */
final class Stage3Step {

  private final UnitLayout layout;
  private final Collectives comm;
  private final UnitCollectives unitComm;
  private final OptimizerState state;
  private final ShardStore store;
  private final UnitGradients grads;
  private final FlatAdam adam;

  Stage3Step(
      UnitLayout layout,
      UnitCollectives unitComm,
      OptimizerState state,
      ShardStore store,
      UnitGradients grads,
      FlatAdam adam) {
    this.layout = layout;
    this.comm = unitComm.comm();
    this.unitComm = unitComm;
    this.state = state;
    this.store = store;
    this.grads = grads;
    this.adam = adam;
  }

  /** One step with the fp32 state in memory (or host memory). */
  StepResult inMemory(AdamHyperparams hp, long adamStep, double lossScale, double clipNorm) {
    // Note [fp32 gradient in place]: in fp32 the shard gradient itself is scaled and stepped from
    // (it is zeroed after every step), so no fp32 copy of it is made.
    Tensor shardGrad = grads.shardGrad();
    boolean fp32 = shardGrad.scalar_type().value == torch.ScalarType.Float.value;
    try (MemoryFormatOptional format = new MemoryFormatOptional();
        Tensor copy = fp32 ? null : shardGrad.to(torch.ScalarType.Float, false, true, format);
        Scalar average = new Scalar(1.0 / (comm.worldSize() * lossScale))) {
      Tensor grad32 = fp32 ? shardGrad : copy;
      grad32.mul_(average);
      double norm = allReducedNorm(GradientNorm.sumOfSquares(grad32));
      if (!Double.isFinite(norm)) {
        return new StepResult(true, norm, 1.0);
      }
      double coef = GradientNorm.clipCoefficient(norm, clipNorm);
      if (coef < 1) {
        try (Scalar c = new Scalar(coef)) {
          grad32.mul_(c);
        }
      }
      state.update(adam, (from, n) -> grad32.narrow(0, from, n), hp, adamStep, this::intoShards);
      finishWriteBack();
      return new StepResult(false, norm, coef);
    }
  }

  /** The global norm from this rank's sum of squares (all-reduced over ranks). */
  double allReducedNorm(double localSumSq) {
    double sumSq = localSumSq;
    if (comm.worldSize() > 1) {
      try (Scalar v = new Scalar(sumSq);
          Tensor t = torch.full(new long[] {1}, v);
          Tensor d = t.to(torch.ScalarType.Double)) {
        comm.allReduce(d).await();
        sumSq = d.item_double();
      }
    }
    return Math.sqrt(sumSq);
  }

  /** Writes updated master values of shard elements starting at {@code from} into the shards. */
  void intoShards(long from, Tensor master) {
    layout.forEachUnit(
        from,
        master.numel(),
        (u, unitOff, len) -> {
          try (Tensor src = master.narrow(0, unitOff + layout.offset(u) - from, len)) {
            store.write(u, unitOff, src);
          }
        });
  }

  /** After the update: flushes swapped shards and refreshes persistent units. */
  void finishWriteBack() {
    store.flush();
    List<UnitParams> persistent = new ArrayList<>();
    for (UnitParams u : layout.units()) {
      if (u.persistent()) {
        persistent.add(u);
      }
    }
    // one batch, awaited after all are issued, rather than a round trip per unit
    List<UnitCollectives.Op> refreshes = new ArrayList<>();
    unitComm.gather(persistent, (u, op) -> refreshes.add(op));
    for (UnitCollectives.Op op : refreshes) {
      unitComm.await(op);
    }
  }

  /**
   * Takes {@code fresh}, {@code u}'s chunk after a modifier rank's edits, as its shard; master
   * elements whose working value changed take the fresh value (unchanged ones keep their fp32
   * precision).
   */
  @SuppressWarnings("try")
  void adoptEdits(UnitParams u, Tensor fresh) {
    long from = layout.offset(u);
    try (Tensor shard = store.copyOf(u);
        Tensor changed = fresh.ne(shard);
        Tensor master = torch.empty(u.chunk());
        Tensor fresh32 = fresh.to(torch.ScalarType.Float)) {
      state.read(AdamState.MASTER, from, master);
      try (Tensor merged = torch.where(changed, fresh32, master)) {
        state.write(AdamState.MASTER, from, merged);
      }
      store.write(u, 0, fresh);
      store.flush();
    }
  }

  /**
   * Writes each unit's master chunk into its working shard, as after a step, and re-gathers the
   * persistent units. A collective.
   */
  void refreshWorkingFromMaster() {
    // Note [checkpoint refreshes]: written against the state's read/write and the unit shards
    // only, so they hold wherever the optimizer state lives.
    for (UnitParams u : layout.units()) {
      try (Tensor m = torch.empty(u.chunk())) {
        state.read(AdamState.MASTER, layout.offset(u), m);
        intoShards(layout.offset(u), m);
      }
    }
    finishWriteBack();
  }

  /** Re-derives each unit's master chunk from its working shard. Local. */
  void refreshMasterFromWorking() {
    for (UnitParams u : layout.units()) {
      try (Tensor shard = store.copyOf(u);
          Tensor m = shard.to(torch.ScalarType.Float)) {
        state.write(AdamState.MASTER, layout.offset(u), m);
      }
    }
  }
}
