package org.zero4j.zero.stage3;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;
import java.util.function.ObjIntConsumer;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.FlatAdam;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.zero.AdamState;
import org.zero4j.zero.MemoryBreakdown;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.OptimizerOffload;
import org.zero4j.zero.OptimizerState;
import org.zero4j.zero.StateFragment;
import org.zero4j.zero.StepResult;
import org.zero4j.zero.ZeroRuntime;
import org.zero4j.zero.comm.Collectives;

/**
 * ZeRO stage 3: parameters, gradients and optimizer state are all partitioned. Each rank keeps, for
 * every sharding unit, only chunk r of the unit's flat parameters (working precision), the same
 * chunk of the summed gradient, and the fp32 master weights and Adam moments of that chunk: 16Ψ/N
 * bytes of model state per rank in bf16 mixed precision. Full parameters exist only while their
 * unit runs ({@link UnitLifecycle}).
 *
 * <p>A step has the math of {@code ZeroOptimizer}'s stages 1-2 (divide by {@code worldSize *
 * lossScale}, global norm all-reduced over shards, skip on inf/NaN, clip, {@link FlatAdam} over the
 * shard), then writes the updated chunk back into each unit's working shard. There is no all-gather
 * at the end of a step: the next forward gathers each unit, so a step moves about 3Ψ (gather in
 * forward, gather in backward, reduce-scatter). Persistent units (the root unit, and units under
 * {@code stage3_param_persistence_threshold}) stay gathered and are refreshed by one all-gather
 * after each step.
 *
 * <p>Offload: the fp32 state is an {@link OptimizerState} placed by {@link OptimizerOffload}
 * (memory, host, or a swap file updated per sub-group by {@link SwappedStep}), and the unit shards
 * live where {@link ParamOffload} says ({@link ShardStore}: resident, or swapped and fetched ahead
 * of each gather).
 *
 * <p>Parameters outside every unit form the root unit, named {@code root}: the engine has no hook
 * before the model's own forward touches them, so it is persistent.
 */
public final class Stage3Optimizer implements ZeroRuntime {

  private final Stage3Options options;
  private final Collectives comm;
  private final FlatAdam adam;
  private final List<NamedParameter> params;
  private final List<ShardedUnit> userUnits;
  private final UnitLayout layout;
  private final UnitCollectives unitComm;
  private final LiveWindow live = new LiveWindow();
  private final UnitGradients grads;
  private final UnitLifecycle lifecycle;
  private final OptimizerState state;
  private final OptimizerOffload offload;
  private final ShardStore store;
  private final Stage3Step stepper;
  private final UnitFragments fragments;
  private final WholeModel whole;
  private final Stage3Memory memory;
  private long steps;

  /**
   * Takes over {@code params} (trainable, all of the working precision), sharding them by {@code
   * units}; the parameters are released (empty) when this returns, except those of persistent
   * units.
   */
  public Stage3Optimizer(
      List<NamedParameter> params,
      List<ShardedUnit> units,
      Stage3Options options,
      Collectives comm,
      FlatAdam adam) {
    this(params, units, options, comm, adam, OptimizerOffload.NONE, ParamOffload.NONE);
  }

  /**
   * As {@link #Stage3Optimizer(List, List, Stage3Options, Collectives, FlatAdam)}, with the fp32
   * optimizer state where {@code offload} says ({@link OptimizerState}) and the parameter shards
   * where {@code paramOffload} says ({@link ShardStore}); swap files are created here and deleted
   * by {@link #close()}.
   *
   * @throws IllegalArgumentException for a bad {@code nvme_path} (missing, not a directory, not
   *     writable, too little free space) or a unit shard larger than {@code offload_param}'s {@code
   *     buffer_size}
   */
  public Stage3Optimizer(
      List<NamedParameter> params,
      List<ShardedUnit> units,
      Stage3Options options,
      Collectives comm,
      FlatAdam adam,
      OptimizerOffload offload,
      ParamOffload paramOffload) {
    if (params.isEmpty()) {
      throw new IllegalArgumentException("the model has no trainable parameters");
    }
    this.options = options;
    this.comm = comm;
    this.adam = adam;
    this.params = List.copyOf(params);
    this.userUnits = List.copyOf(units);
    this.layout =
        UnitLayout.partition(this.params, userUnits, options, comm.worldSize(), comm.rank());
    this.offload = offload;
    this.state = OptimizerState.create(layout.numel(), layout::copyShards, offload, comm.rank());
    try {
      this.store =
          paramOffload.device() == OffloadDevice.NVME
              ? ShardStore.swapped(layout.units(), paramOffload, options.working(), comm.rank())
              : ShardStore.resident(paramOffload.device(), options.working());
    } catch (RuntimeException e) {
      state.close();
      throw e;
    }
    this.unitComm =
        new UnitCollectives(comm, layout.names(), options.stage3().useAllReduceForFetchParams());
    this.grads =
        new UnitGradients(
            layout.units(),
            layout.offsets(),
            layout.numel(),
            unitComm,
            options.working(),
            options.wire(),
            options.overlapComm(),
            options.reduceBucketNumel());
    this.lifecycle =
        new UnitLifecycle(
            layout.units(),
            unitComm,
            grads,
            live,
            options.stage3(),
            options.ignoreUnusedParameters());
    lifecycle.storeShards(store);
    this.stepper = new Stage3Step(layout, unitComm, state, store, grads, adam);
    this.fragments = new UnitFragments(this.params, layout, comm.worldSize());
    this.whole = new WholeModel(this.params, layout, lifecycle, fragments, comm.rank());
    this.memory = new Stage3Memory(layout, options.working(), store, offload, state, grads, live);
    for (int i = 0; i < userUnits.size(); i++) {
      userUnits.get(i).attach(lifecycle, i);
    }
    for (UnitParams u : layout.units()) {
      if (u.persistent()) {
        lifecycle.gatherNow(u);
      }
    }
  }

  @Override
  public void beforeBackward() {
    lifecycle.beforeBackward();
  }

  @Override
  public void afterBackward() {
    lifecycle.afterBackward();
  }

  @Override
  public StepResult step(AdamHyperparams hp, long adamStep, double lossScale, double clipNorm) {
    unitComm.endIteration(); // every rank is at the step (Note [agreed order])
    try {
      return state.swapped()
          ? SwappedStep.run(this, hp, adamStep, lossScale, clipNorm)
          : stepper.inMemory(hp, adamStep, lossScale, clipNorm);
    } finally {
      grads.zero();
      unitComm.step(++steps);
    }
  }

  /** The global norm from this rank's sum of squares (all-reduced over ranks). */
  double allReducedNorm(double localSumSq) {
    return stepper.allReducedNorm(localSumSq);
  }

  /** Writes updated master values of shard elements starting at {@code from} into the shards. */
  void intoShards(long from, Tensor master) {
    stepper.intoShards(from, master);
  }

  /** After the update: flushes swapped shards and refreshes persistent units. */
  void finishWriteBack() {
    stepper.finishWriteBack();
  }

  /**
   * Gathers every unit in turn and returns a copy of each parameter's full value, in registration
   * order. A collective: every rank must call it at the same point.
   */
  public List<Tensor> fullParameters() {
    return whole.fullParameters();
  }

  /**
   * Gathers the units holding {@code parameters} on every rank until the returned scope closes;
   * {@code modifierRank} (or -1 for none) is the rank whose edits are kept. See {@link
   * GatheredParameters}.
   */
  public GatheredParameters gathered(List<Tensor> parameters, int modifierRank) {
    if (modifierRank >= comm.worldSize()) {
      throw new IllegalArgumentException(
          "modifier rank " + modifierRank + " is not a rank of this group of " + comm.worldSize());
    }
    return new GatheredParameters(this, whole.unitsHolding(parameters), modifierRank);
  }

  /** {@link #gathered(List, int)} over every parameter. */
  public GatheredParameters gatheredAll(int modifierRank) {
    List<Tensor> all = new ArrayList<>();
    for (NamedParameter p : params) {
      all.add(p.tensor());
    }
    return gathered(all, modifierRank);
  }

  /**
   * The full parameters in the working precision (16-bit in mixed precision), gathered one unit at
   * a time so that no rank holds more than one unit beyond the result: on {@code root} a map from
   * parameter name to a copy, in registration order; on the other ranks an empty map. A collective
   * (DeepSpeed's {@code stage3_gather_16bit_weights_on_model_save} state dict).
   */
  public Map<String, Tensor> consolidatedStateDict(int root) {
    return whole.consolidatedStateDict(root);
  }

  UnitLifecycle lifecycle() {
    return lifecycle;
  }

  UnitCollectives unitComm() {
    return unitComm;
  }

  /**
   * Takes {@code fresh}, {@code u}'s chunk after a modifier rank's edits, as its shard; master
   * elements whose working value changed take the fresh value (unchanged ones keep their fp32
   * precision).
   */
  void adoptEdits(UnitParams u, Tensor fresh) {
    stepper.adoptEdits(u, fresh);
  }

  @Override
  public MemoryBreakdown memory() {
    return memory.breakdown();
  }

  /** Gathered parameter bytes right now. */
  public long liveBytes() {
    return live.bytes();
  }

  /** The largest {@link #liveBytes()} since construction or {@link #resetPeakLive()}. */
  public long peakLiveBytes() {
    return live.peakBytes();
  }

  /** Restarts the peak at the current live bytes. */
  public void resetPeakLive() {
    live.resetPeak();
  }

  /** Calls {@code sampler} with the live bytes after every gather and release (null: none). */
  public void sampleLive(LongConsumer sampler) {
    live.sampler(sampler);
  }

  /** The units' parameter groups (for tests of this package). */
  List<UnitParams> unitParams() {
    return layout.units();
  }

  /** Names of the units in shard order, the root unit last if there is one. */
  public List<String> unitNames() {
    return layout.names();
  }

  /** Elements of unit {@code i}'s flat buffer (padding included), in {@link #unitNames()} order. */
  public long unitNumel(int i) {
    return layout.units().get(i).paddedNumel();
  }

  /** Whether unit {@code i} stays gathered. */
  public boolean unitPersistent(int i) {
    return layout.units().get(i).persistent();
  }

  /** Elements of this rank's shard (the sum of every unit's chunk). */
  public long shardNumel() {
    return layout.numel();
  }

  /**
   * This rank's fp32 master shard.
   *
   * @throws IllegalStateException with NVMe optimizer offload; use {@link #readState} instead
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

  /** Where the optimizer state lives. */
  public OptimizerOffload offload() {
    return offload;
  }

  @Override
  public OptimizerState optimizerState() {
    return state;
  }

  FlatAdam adam() {
    return adam;
  }

  UnitGradients grads() {
    return grads;
  }

  Collectives comm() {
    return comm;
  }

  /** The options this optimizer runs with. */
  public Stage3Options options() {
    return options;
  }

  @Override
  public List<NamedParameter> parameters() {
    return params;
  }

  // The checkpoint view: see UnitFragments.

  @Override
  public int stage() {
    return 3;
  }

  @Override
  public long[] shape(int param) {
    return fragments.shape(param);
  }

  @Override
  public List<StateFragment> savedFragments(int rank) {
    return fragments.saved(rank);
  }

  @Override
  public List<StateFragment> heldFragments() {
    return fragments.saved(comm.rank());
  }

  @Override
  public void refreshWorkingFromMaster() {
    stepper.refreshWorkingFromMaster();
  }

  @Override
  public void refreshMasterFromWorking() {
    stepper.refreshMasterFromWorking();
  }

  @Override
  public List<Integer> streamOrder() {
    return fragments.streamOrder();
  }

  @Override
  public void streamParameters(int root, ObjIntConsumer<Tensor> visitor) {
    whole.streamParameters(root, visitor);
  }

  @Override
  public List<Block> blocks() {
    return fragments.blocks();
  }

  @Override
  public void close() {
    lifecycle.close();
    for (ShardedUnit u : userUnits) {
      u.detach();
    }
    grads.close();
    for (UnitParams u : layout.units()) {
      u.close();
    }
    try {
      store.close();
    } finally {
      state.close();
    }
  }
}
