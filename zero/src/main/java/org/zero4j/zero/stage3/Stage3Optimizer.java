package org.zero4j.zero.stage3;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;
import java.util.function.ObjIntConsumer;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.FlatAdam;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.offload.swap.ResidentMemory;
import org.zero4j.zero.AdamState;
import org.zero4j.zero.GradientNorm;
import org.zero4j.zero.MemoryBreakdown;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.OptimizerOffload;
import org.zero4j.zero.OptimizerState;
import org.zero4j.zero.Stage3Config;
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
  private final List<UnitParams> units = new ArrayList<>();
  private final long[] shardOffsets;
  private final long shardNumel;
  private final UnitCollectives unitComm;
  private final LiveWindow live = new LiveWindow();
  private final UnitGradients grads;
  private final UnitLifecycle lifecycle;
  private final OptimizerState state;
  private final OptimizerOffload offload;
  private final ShardStore store;
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
    List<List<NamedParameter>> groups = UnitAssignment.assign(this.params, userUnits);
    List<String> names = new ArrayList<>();
    for (ShardedUnit u : userUnits) {
      names.add(u.name());
    }
    if (groups.size() > userUnits.size()) {
      names.add("root");
    }
    for (int i = 0; i < groups.size(); i++) {
      UnitParams pre = i < userUnits.size() ? userUnits.get(i).partitioned() : null;
      this.units.add(
          pre != null
              ? pre.adopt(i, groups.get(i), comm.worldSize(), comm.rank(), options.working())
              : new UnitParams(
                  i,
                  names.get(i),
                  groups.get(i),
                  comm.worldSize(),
                  comm.rank(),
                  options.working()));
    }
    markPersistent(groups.size() > userUnits.size());
    this.shardOffsets = new long[this.units.size()];
    long offset = 0;
    for (UnitParams u : this.units) {
      shardOffsets[u.index()] = offset;
      offset += u.chunk();
    }
    this.shardNumel = offset;
    this.offload = offload;
    this.state = OptimizerState.create(shardNumel, this::fromShards, offload, comm.rank());
    try {
      this.store =
          paramOffload.device() == OffloadDevice.NVME
              ? ShardStore.swapped(this.units, paramOffload, options.working(), comm.rank())
              : ShardStore.resident(paramOffload.device(), options.working());
    } catch (RuntimeException e) {
      state.close();
      throw e;
    }
    this.unitComm = new UnitCollectives(comm, names, options.stage3().useAllReduceForFetchParams());
    this.grads =
        new UnitGradients(
            this.units,
            shardOffsets,
            shardNumel,
            unitComm,
            options.working(),
            options.wire(),
            options.overlapComm(),
            options.reduceBucketNumel());
    this.lifecycle =
        new UnitLifecycle(
            this.units, unitComm, grads, live, options.stage3(), options.ignoreUnusedParameters());
    lifecycle.storeShards(store);
    for (int i = 0; i < userUnits.size(); i++) {
      userUnits.get(i).attach(lifecycle, i);
    }
    for (UnitParams u : this.units) {
      if (u.persistent()) {
        lifecycle.gatherNow(u);
      }
    }
  }

  // stage3_param_persistence_threshold applies to whole units here: zero4j gathers and frees by
  // unit, so a unit under the threshold stays gathered, within stage3_model_persistence_threshold
  // elements in all. The root unit always persists.
  private void markPersistent(boolean hasRoot) {
    Stage3Config c = options.stage3();
    long total = 0;
    for (UnitParams u : units) {
      boolean root = hasRoot && u.index() == units.size() - 1;
      if (root
          || (u.numel() < c.paramPersistenceThreshold()
              && total + u.numel() <= c.modelPersistenceThreshold())) {
        u.markPersistent();
        total += u.numel();
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
    try {
      return state.swapped()
          ? SwappedStep.run(this, hp, adamStep, lossScale, clipNorm)
          : stepInMemory(hp, adamStep, lossScale, clipNorm);
    } finally {
      grads.zero();
      unitComm.step(++steps);
    }
  }

  private StepResult stepInMemory(
      AdamHyperparams hp, long adamStep, double lossScale, double clipNorm) {
    try (MemoryFormatOptional format = new MemoryFormatOptional();
        Tensor grad32 = grads.shardGrad().to(torch.ScalarType.Float, false, true, format);
        Scalar average = new Scalar(1.0 / (comm.worldSize() * lossScale))) {
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

  // Initial master values of shard elements [from, from + dst.numel()): the units' own chunks.
  private void fromShards(long from, Tensor dst) {
    forEachUnit(
        from,
        dst.numel(),
        (u, unitOff, len) -> {
          try (Tensor d = dst.narrow(0, unitOff + shardOffsets[u.index()] - from, len);
              Tensor src = u.shard().narrow(0, unitOff, len)) {
            d.copy_(src);
          }
        });
  }

  /** Writes updated master values of shard elements starting at {@code from} into the shards. */
  void intoShards(long from, Tensor master) {
    forEachUnit(
        from,
        master.numel(),
        (u, unitOff, len) -> {
          try (Tensor src = master.narrow(0, unitOff + shardOffsets[u.index()] - from, len)) {
            store.write(u, unitOff, src);
          }
        });
  }

  private interface UnitPiece {
    void accept(UnitParams u, long unitOffset, long numel);
  }

  // Calls piece for each unit's part of shard range [from, from + n).
  private void forEachUnit(long from, long n, UnitPiece piece) {
    long end = from + n;
    for (UnitParams u : units) {
      long lo = Math.max(from, shardOffsets[u.index()]);
      long hi = Math.min(end, shardOffsets[u.index()] + u.chunk());
      if (lo < hi) {
        piece.accept(u, lo - shardOffsets[u.index()], hi - lo);
      }
    }
  }

  /** After the update: flushes swapped shards and refreshes persistent units. */
  void finishWriteBack() {
    store.flush();
    for (UnitParams u : units) {
      if (u.persistent()) {
        unitComm.await(unitComm.gather(u));
      }
    }
  }

  /**
   * Gathers every unit in turn and returns a copy of each parameter's full value, in registration
   * order. A collective: every rank must call it at the same point.
   */
  public List<Tensor> fullParameters() {
    Map<Long, Tensor> copies = new HashMap<>();
    for (UnitParams u : units) {
      lifecycle.gatherNow(u);
      for (NamedParameter p : u.params()) {
        copies.put(UnitAssignment.identity(p.tensor()), p.tensor().detach().clone());
      }
      lifecycle.releaseNow(u);
    }
    List<Tensor> out = new ArrayList<>();
    for (NamedParameter p : params) {
      out.add(copies.get(UnitAssignment.identity(p.tensor())));
    }
    return out;
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
    java.util.Set<Long> wanted = new java.util.HashSet<>();
    for (Tensor t : parameters) {
      wanted.add(UnitAssignment.identity(t));
    }
    List<UnitParams> chosen = new ArrayList<>();
    for (UnitParams u : units) {
      for (NamedParameter p : u.params()) {
        if (wanted.remove(UnitAssignment.identity(p.tensor()))) {
          if (!chosen.contains(u)) {
            chosen.add(u);
          }
        }
      }
    }
    if (!wanted.isEmpty()) {
      throw new IllegalArgumentException(
          wanted.size()
              + " of the tensors to gather are not parameters managed by this ZeRO stage-3"
              + " optimizer; pass the model's own trainable parameters");
    }
    return new GatheredParameters(this, chosen, modifierRank);
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
    Map<Long, Tensor> copies = new HashMap<>();
    for (UnitParams u : units) {
      lifecycle.gatherNow(u);
      if (comm.rank() == root) {
        for (NamedParameter p : u.params()) {
          copies.put(UnitAssignment.identity(p.tensor()), p.tensor().detach().clone());
        }
      }
      lifecycle.releaseNow(u);
    }
    Map<String, Tensor> out = new java.util.LinkedHashMap<>();
    if (comm.rank() == root) {
      for (NamedParameter p : params) {
        out.put(p.name(), copies.get(UnitAssignment.identity(p.tensor())));
      }
    }
    return out;
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
  @SuppressWarnings("try")
  void adoptEdits(UnitParams u, Tensor fresh) {
    long from = shardOffsets[u.index()];
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

  @Override
  public MemoryBreakdown memory() {
    long shards = 0;
    long swappedShards = 0;
    for (UnitParams u : units) {
      long b = u.chunk() * options.working().bytes();
      shards += b;
      swappedShards += u.shardPresent() ? 0 : b;
    }
    long residentShards = shards - swappedShards;
    boolean paramsOnHost = store.device() != OffloadDevice.NONE;
    boolean stateOnHost = offload.device() != OffloadDevice.NONE;
    long stateBytes = state.masterBytes() + state.momentBytes();
    return new MemoryBreakdown(
        shards,
        grads.bytes(),
        state.masterBytes(),
        state.momentBytes(),
        live.bytes(),
        live.peakBytes(),
        (paramsOnHost ? 0 : residentShards)
            + grads.bytes()
            + (stateOnHost ? 0 : stateBytes)
            + live.bytes(),
        (paramsOnHost ? residentShards : 0) + store.bufferBytes() + state.hostBytes(),
        store.nvmeBytes() + state.nvmeBytes(),
        ResidentMemory.current());
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
    return units;
  }

  /** Names of the units in shard order, the root unit last if there is one. */
  public List<String> unitNames() {
    List<String> out = new ArrayList<>();
    for (UnitParams u : units) {
      out.add(u.name());
    }
    return out;
  }

  /** Elements of unit {@code i}'s flat buffer (padding included), in {@link #unitNames()} order. */
  public long unitNumel(int i) {
    return units.get(i).paddedNumel();
  }

  /** Whether unit {@code i} stays gathered. */
  public boolean unitPersistent(int i) {
    return units.get(i).persistent();
  }

  /** Elements of this rank's shard (the sum of every unit's chunk). */
  public long shardNumel() {
    return shardNumel;
  }

  /**
   * This rank's fp32 master shard.
   *
   * @throws IllegalStateException with NVMe optimizer offload; use {@link #readState} instead
   */
  public Tensor masterShard() {
    return inMemory("the master shard").tensor(AdamState.MASTER);
  }

  /**
   * This rank's Adam moments, same layout as {@link #masterShard()}.
   *
   * @throws IllegalStateException with NVMe optimizer offload; use {@link #readState} instead
   */
  public List<Tensor> moments() {
    OptimizerState s = inMemory("the Adam moments");
    return List.of(s.tensor(AdamState.EXP_AVG), s.tensor(AdamState.EXP_AVG_SQ));
  }

  private OptimizerState inMemory(String what) {
    if (!state.swapped()) {
      return state;
    }
    throw new IllegalStateException(
        what
            + " is not in memory: offload_optimizer.device is nvme and the state lives in a"
            + " swap file; read or write it in ranges with readState/writeState");
  }

  /** Where the optimizer state lives. */
  public OptimizerOffload offload() {
    return offload;
  }

  /** Elements in this rank's optimizer state tensors: {@link #shardNumel()}. */
  @Override
  public long stateNumel() {
    return state.numel();
  }

  /**
   * Copies {@code dst.numel()} elements of one optimizer state tensor, from element {@code from} of
   * this rank's shard (units in {@link #unitNames()} order, each its chunk), into the fp32 tensor
   * {@code dst}. Works for every placement; with NVMe offload it is the only way to see the state.
   */
  @Override
  public void readState(AdamState which, long from, Tensor dst) {
    state.read(which, from, dst);
  }

  /**
   * Overwrites elements {@code [from, from + src.numel())} of one optimizer state tensor with the
   * fp32 tensor {@code src} (checkpoint loading). Writing {@link AdamState#MASTER} does not touch
   * the working parameters.
   */
  @Override
  public void writeState(AdamState which, long from, Tensor src) {
    state.write(which, from, src);
  }

  OptimizerState state() {
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

  /** The managed parameters, in registration order. */
  @Override
  public List<NamedParameter> parameters() {
    return params;
  }

  // Note [checkpoint view of stage 3]: rank r holds chunk r of every unit's flat buffer, and its
  // state tensors are those chunks back to back (shardOffsets). The fragments below cut each chunk
  // at parameter boundaries; the padding at a unit's end belongs to no fragment.

  @Override
  public int stage() {
    return 3;
  }

  @Override
  public long[] shape(int param) {
    long id = UnitAssignment.identity(params.get(param).tensor());
    for (UnitParams u : units) {
      for (int i = 0; i < u.params().size(); i++) {
        if (UnitAssignment.identity(u.params().get(i).tensor()) == id) {
          return u.shape(i);
        }
      }
    }
    throw new IllegalStateException("parameter " + param + " belongs to no sharding unit");
  }

  @Override
  public List<StateFragment> savedFragments(int rank) {
    if (rank < 0 || rank >= comm.worldSize()) {
      throw new IllegalArgumentException(
          "rank " + rank + " is not a rank of this group of " + comm.worldSize());
    }
    Map<Long, Integer> index = registrationIndex();
    List<StateFragment> out = new ArrayList<>();
    for (UnitParams u : units) {
      long lo = rank * u.chunk();
      long hi = lo + u.chunk();
      for (int i = 0; i < u.params().size(); i++) {
        long off = u.offset(i);
        long from = Math.max(lo, off);
        long to = Math.min(hi, off + u.paramNumel(i));
        if (from < to) {
          int param = index.get(UnitAssignment.identity(u.params().get(i).tensor()));
          out.add(
              new StateFragment(param, from - off, to - from, shardOffsets[u.index()] + from - lo));
        }
      }
    }
    return out;
  }

  @Override
  public List<StateFragment> heldFragments() {
    return savedFragments(comm.rank());
  }

  private Map<Long, Integer> registrationIndex() {
    Map<Long, Integer> index = new HashMap<>();
    for (int i = 0; i < params.size(); i++) {
      index.put(UnitAssignment.identity(params.get(i).tensor()), i);
    }
    return index;
  }

  /**
   * Writes each unit's master chunk into its working shard, as after a step, and re-gathers the
   * persistent units. A collective. Call between steps, when only persistent units are gathered.
   */
  @Override
  public void refreshWorkingFromMaster() {
    // Note [checkpoint refreshes]: written against readState/writeState and the unit shards only,
    // so they hold wherever the optimizer state lives.
    for (UnitParams u : units) {
      try (Tensor m = torch.empty(u.chunk())) {
        readState(AdamState.MASTER, shardOffsets[u.index()], m);
        intoShards(shardOffsets[u.index()], m);
      }
    }
    finishWriteBack();
  }

  /** Re-derives each unit's master chunk from its working shard. Local. */
  @Override
  public void refreshMasterFromWorking() {
    for (UnitParams u : units) {
      try (Tensor shard = store.copyOf(u);
          Tensor m = shard.to(torch.ScalarType.Float)) {
        writeState(AdamState.MASTER, shardOffsets[u.index()], m);
      }
    }
  }

  @Override
  public List<Integer> streamOrder() {
    Map<Long, Integer> index = registrationIndex();
    List<Integer> out = new ArrayList<>();
    for (UnitParams u : units) {
      for (NamedParameter p : u.params()) {
        out.add(index.get(UnitAssignment.identity(p.tensor())));
      }
    }
    return out;
  }

  /**
   * Gathers one unit at a time; on {@code root} visits each of its parameters (full value, working
   * precision) while it is gathered, then releases it unless it is persistent. A collective that
   * holds at most one non-persistent unit gathered, so streaming the model to a file never
   * materialises it.
   */
  @Override
  public void streamParameters(int root, ObjIntConsumer<Tensor> visitor) {
    Map<Long, Integer> index = registrationIndex();
    for (UnitParams u : units) {
      lifecycle.gatherNow(u);
      try {
        if (comm.rank() == root) {
          for (NamedParameter p : u.params()) {
            visitor.accept(p.tensor(), index.get(UnitAssignment.identity(p.tensor())));
          }
        }
      } finally {
        lifecycle.releaseNow(u);
      }
    }
  }

  @Override
  public List<Block> blocks() {
    List<Block> out = new ArrayList<>();
    long start = 0;
    for (UnitParams u : units) {
      out.add(new Block(u.name(), start, u.numel(), u.paddedNumel()));
      start += u.paddedNumel();
    }
    return out;
  }

  @Override
  public void close() {
    lifecycle.close();
    for (ShardedUnit u : userUnits) {
      u.detach();
    }
    grads.close();
    for (UnitParams u : units) {
      u.close();
    }
    try {
      store.close();
    } finally {
      state.close();
    }
  }
}
