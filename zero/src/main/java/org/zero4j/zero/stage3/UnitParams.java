package org.zero4j.zero.stage3;

import java.util.List;
import org.bytedeco.pytorch.LongArrayRef;
import org.bytedeco.pytorch.LongVector;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.Precision;

/**
 * The parameters of one sharding unit (FSDP's parameter group): laid out back to back in one flat
 * buffer of {@code paddedNumel} elements, a multiple of the world size. Rank r keeps only chunk r
 * ({@link #shard()}, working precision); the full buffer exists while the unit is gathered.
 *
 * <p>While sharded, every parameter points at an empty tensor, so code that touches a parameter
 * outside its unit's forward fails on a shape error instead of reading stale values.
 */
final class UnitParams implements AutoCloseable {

  /** Where the unit's parameters are. */
  enum State {
    SHARDED,
    GATHERING,
    GATHERED
  }

  private int index;
  private final String name;
  private List<NamedParameter> params;
  private final long[] offsets;
  private final long[][] shapes;
  private final long numel;
  private final long paddedNumel;
  private final int world;
  private final int rank;
  private final Precision precision;
  private Tensor shard; // null while swapped out (offload_param nvme, ShardStore)
  private boolean ownsShard = true;
  private final GatheredStorage full;
  private boolean persistent;
  private State state = State.SHARDED;
  private UnitCollectives.Op inFlight;
  private boolean abandoned;

  /**
   * Takes chunk {@code rank} of the parameters' current values (every rank holds the same full
   * values, of dtype {@code precision}) and releases the parameters.
   */
  UnitParams(
      int index,
      String name,
      List<NamedParameter> params,
      int world,
      int rank,
      Precision precision) {
    this.index = index;
    this.name = name;
    this.params = List.copyOf(params);
    this.world = world;
    this.rank = rank;
    this.precision = precision;
    this.offsets = new long[params.size()];
    this.shapes = new long[params.size()][];
    long n = 0;
    for (int i = 0; i < params.size(); i++) {
      Tensor t = params.get(i).tensor();
      if (t.scalar_type().value != precision.scalarType().value) {
        throw new IllegalArgumentException(
            "parameter "
                + params.get(i).name()
                + " has dtype "
                + t.scalar_type()
                + " but the engine runs in "
                + precision
                + "; convert the model before initialize, or let the engine do it");
      }
      offsets[i] = n;
      shapes[i] = shapeOf(t);
      n += t.numel();
    }
    this.numel = n;
    this.paddedNumel = Math.max(world, (n + world - 1) / world * world);
    this.shard = precision.zeros(paddedNumel / world);
    this.full = new GatheredStorage(paddedNumel, precision);
    copyOwnChunk();
    for (NamedParameter p : this.params) {
      releaseData(p.tensor());
    }
  }

  private static long[] shapeOf(Tensor t) {
    try (LongArrayRef sizes = t.sizes();
        LongVector v = sizes.vec()) {
      return v.get();
    }
  }

  @SuppressWarnings("try")
  private void copyOwnChunk() {
    long lo = rank * chunk();
    long hi = lo + chunk();
    try (NoGradGuard g = new NoGradGuard()) {
      for (int i = 0; i < params.size(); i++) {
        long start = Math.max(lo, offsets[i]);
        long end = Math.min(hi, offsets[i] + params.get(i).tensor().numel());
        if (start >= end) {
          continue;
        }
        // Note [close every handle]: the detached handle shares the whole parameter's storage;
        // left to the garbage collector it would keep every unit's full weights resident after
        // partitioning (the parameter itself is re-pointed at an empty tensor below).
        try (Tensor whole = params.get(i).tensor().detach();
            Tensor flat = whole.reshape(-1);
            Tensor src = flat.narrow(0, start - offsets[i], end - start);
            Tensor dst = shard.narrow(0, start - lo, end - start)) {
          dst.copy_(src);
        }
      }
    }
  }

  // Points a parameter at an empty tensor; the empty tensor's own handle is closed at once.
  private void releaseData(Tensor param) {
    try (Tensor empty = precision.empty(0)) {
      param.set_data(empty);
    }
  }

  /**
   * Takes this group (partitioned at construction time, {@link PartitionedInit}) into an optimizer
   * as unit {@code newIndex}, under the optimizer's names for the same parameters.
   */
  UnitParams adopt(
      int newIndex, List<NamedParameter> named, int worldSize, int rankNow, Precision p) {
    if (worldSize != world || rankNow != rank || p != precision) {
      throw new IllegalArgumentException(
          "sharding unit '"
              + name
              + "' was partitioned for rank "
              + rank
              + " of "
              + world
              + " in "
              + precision
              + " but the optimizer runs rank "
              + rankNow
              + " of "
              + worldSize
              + " in "
              + p
              + "; build the model with the same group and precision as the engine");
    }
    if (named.size() != params.size()) {
      throw new IllegalStateException(
          "unit "
              + name
              + " was partitioned with "
              + params.size()
              + " parameters, now "
              + named.size());
    }
    for (int i = 0; i < named.size(); i++) {
      if (UnitAssignment.identity(named.get(i).tensor())
          != UnitAssignment.identity(params.get(i).tensor())) {
        throw new IllegalStateException(
            "unit " + name + " changed its parameters after partitioning");
      }
    }
    this.index = newIndex;
    this.params = List.copyOf(named);
    return this;
  }

  int index() {
    return index;
  }

  String name() {
    return name;
  }

  List<NamedParameter> params() {
    return params;
  }

  /** Offset of parameter {@code i} in the flat buffer. */
  long offset(int i) {
    return offsets[i];
  }

  /** Elements that are parameters. */
  long numel() {
    return numel;
  }

  /** Elements of the flat buffer, padding included. */
  long paddedNumel() {
    return paddedNumel;
  }

  /** Elements per rank. */
  long chunk() {
    return paddedNumel / world;
  }

  /** This rank's chunk, working precision. */
  Tensor shard() {
    if (shard == null) {
      throw new IllegalStateException(
          "unit "
              + name
              + "'s shard is swapped out to NVMe (offload_param); it is present only from its"
              + " read until its gather completes");
    }
    return shard;
  }

  /** Whether the shard is in memory (false while swapped out by {@link ShardStore}). */
  boolean shardPresent() {
    return shard != null;
  }

  /** Drops the shard from memory (it lives in a swap file now); closes it if this unit owns it. */
  void evict() {
    if (shard != null && ownsShard) {
      shard.close();
    }
    shard = null;
  }

  /** Points the shard at {@code staged}, a staging buffer view that {@link ShardStore} owns. */
  void install(Tensor staged) {
    evict();
    shard = staged;
    ownsShard = false;
  }

  /** The full buffer (valid while gathered or gathering). */
  GatheredStorage full() {
    return full;
  }

  State state() {
    return state;
  }

  boolean persistent() {
    return persistent;
  }

  void markPersistent() {
    this.persistent = true;
  }

  /** Allocates the full buffer and records the gather writing it. */
  void gathering(UnitCollectives.Op pending) {
    if (state != State.SHARDED) {
      throw new IllegalStateException("unit " + name + " is already " + state);
    }
    inFlight = pending;
    state = State.GATHERING;
  }

  /** Waits for an in-flight gather and points every parameter at its view of the full buffer. */
  void finishGather(UnitCollectives comm) {
    if (state == State.GATHERED) {
      return;
    }
    if (state != State.GATHERING) {
      throw new IllegalStateException("unit " + name + " was never gathered");
    }
    UnitCollectives.Op p = inFlight;
    inFlight = null;
    try {
      comm.await(p);
    } catch (RuntimeException e) {
      abandoned = true; // the gather may still write into the buffer: never free it under it
      throw e;
    }
    Tensor flat = full.tensor();
    for (int i = 0; i < params.size(); i++) {
      try (Tensor slice = flat.narrow(0, offsets[i], numelOf(i));
          Tensor view = slice.view(shapes[i])) {
        params.get(i).tensor().set_data(view);
      }
    }
    state = State.GATHERED;
  }

  private long numelOf(int i) {
    long n = 1;
    for (long d : shapes[i]) {
      n *= d;
    }
    return n;
  }

  /** The full shape of parameter {@code i}. */
  long[] shape(int i) {
    return shapes[i].clone();
  }

  /** Elements of parameter {@code i}. */
  long paramNumel(int i) {
    return numelOf(i);
  }

  /**
   * After a failed gather inside backward: points the parameters at a zero-filled full buffer, so
   * that autograd can finish the backward it is in (a Java exception cannot unwind it) and the
   * stored failure is reported when it returns. The values are meaningless; the step must not run.
   */
  void fillAfterFailure() {
    full.allocate();
    full.tensor().zero_();
    if (inFlight != null) {
      abandoned = true; // see finishGather
    }
    inFlight = null;
    Tensor flat = full.tensor();
    for (int i = 0; i < params.size(); i++) {
      try (Tensor slice = flat.narrow(0, offsets[i], numelOf(i));
          Tensor view = slice.view(shapes[i])) {
        params.get(i).tensor().set_data(view);
      }
    }
    state = State.GATHERED;
  }

  /** Frees the full buffer and its gradients; the parameters point at empty tensors again. */
  void release(UnitCollectives comm) {
    if (state == State.GATHERING) {
      finishGather(comm); // a collective in flight must complete before its buffer goes
    }
    for (NamedParameter p : params) {
      p.tensor().mutable_grad().reset();
      if (state == State.GATHERED) {
        releaseData(p.tensor());
      }
    }
    if (!abandoned) {
      full.free();
    }
    state = State.SHARDED;
  }

  /**
   * Closes the shard and drops the full buffer. A gather still in flight (a prefetch never used, or
   * one abandoned after a failure) keeps its own reference to the buffer, so the memory goes when
   * the collective does, never under it.
   */
  @Override
  public void close() {
    evict();
    if (state == State.GATHERING || abandoned) {
      full.tensor().close();
    } else {
      full.close();
    }
  }
}
