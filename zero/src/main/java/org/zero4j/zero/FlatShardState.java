package org.zero4j.zero;

import java.util.ArrayList;
import java.util.List;
import java.util.function.ObjIntConsumer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.offload.swap.ResidentMemory;
import org.zero4j.zero.comm.Collectives;

/**
 * The {@link PartitionedState} of ZeRO stages 0-2: the working parameters as one flat buffer
 * ({@link FlatParams}) and this rank's optimizer state over its chunks of every bucket (the whole
 * buffer at stage 0), wherever {@link OptimizerOffload} puts that state.
 *
 * <p>It owns the mapping between the two (which flat elements a shard element stands for) and the
 * collectives that rebuild the working parameters from the updated shards; {@link ZeroOptimizer}
 * owns the step.
 */
final class FlatShardState implements PartitionedState {

  private final int stage;
  private final List<NamedParameter> params;
  private final ShardLayout layout;
  private final FlatParams working;
  private final Collectives comm;
  private final long allgatherBucketNumel;
  private final boolean allgatherPartitions;
  private final OptimizerOffload offload;
  private final OptimizerState state;

  /**
   * Creates this rank's optimizer state for {@code working}, its masters filled from the working
   * parameters (offload rules are the caller's to check).
   */
  FlatShardState(
      ZeroOptimizer.Options options,
      List<NamedParameter> params,
      ShardLayout layout,
      FlatParams working,
      Collectives comm,
      OptimizerOffload offload) {
    this.stage = options.stage();
    this.params = params;
    this.layout = layout;
    this.working = working;
    this.comm = comm;
    this.allgatherBucketNumel = options.allgatherBucketNumel();
    this.allgatherPartitions = options.allgatherPartitions();
    this.offload = offload;
    this.state =
        stage >= 1
            ? OptimizerState.create(layout.shardNumel(), this::ownChunks, offload, comm.rank())
            : OptimizerShard.whole(working);
  }

  @Override
  public OptimizerState optimizerState() {
    return state;
  }

  // The initial master values of shard elements [from, from + dst.numel()): this rank's chunks.
  private void ownChunks(long from, Tensor dst) {
    ShardSpan.forEach(
        layout,
        comm.rank(),
        from,
        dst.numel(),
        (off, flatOff, len) -> {
          try (Tensor d = dst.narrow(0, off - from, len);
              Tensor src = working.flat().narrow(0, flatOff, len)) {
            d.copy_(src);
          }
        });
  }

  /**
   * Writes updated fp32 master values of shard elements from {@code shardOffset} into this rank's
   * chunks of the working parameters (NVMe offload, sub-group by sub-group).
   */
  void intoWorkingCopy(long shardOffset, Tensor master) {
    ShardSpan.forEach(
        layout,
        comm.rank(),
        shardOffset,
        master.numel(),
        (off, flatOff, len) -> {
          try (Tensor dst = working.flat().narrow(0, flatOff, len);
              Tensor src = master.narrow(0, off - shardOffset, len)) {
            dst.copy_(src);
          }
        });
  }

  /**
   * Rebuilds every rank's working parameters from the in-memory master: at stage 0 a local copy
   * (none in fp32, where the master is the working buffer), at stages 1-2 an all-gather of the
   * shards. Collective at stages 1-2.
   */
  void writeBack() {
    OptimizerShard shard = (OptimizerShard) state;
    if (stage == 0) {
      if (!shard.masterIsWorkingCopy()) {
        working.flat().copy_(shard.master());
      }
      return;
    }
    working.gatherFromShards(shard.master(), comm, allgatherBucketNumel, allgatherPartitions);
  }

  /**
   * All-gathers the working parameters when this rank's chunks already hold its updated values (see
   * {@link #intoWorkingCopy}). Collective.
   */
  void gatherOwnChunks() {
    working.gatherOwnChunks(comm, allgatherBucketNumel, allgatherPartitions);
  }

  /**
   * Checkpoint support: rewrites the working parameters from the fp32 master shards, exactly as
   * after an update, once a load has replaced the masters. Collective at stages 1 and 2 (every rank
   * calls it); at stage 0 in fp32 the master is the working copy and nothing moves. With NVMe
   * offload the masters are read back one sub-group at a time.
   */
  @Override
  public void refreshWorkingFromMaster() {
    if (!state.swapped()) {
      writeBack();
      return;
    }
    long n = state.numel();
    long chunk = Math.max(1, Math.min(offload.subGroupSize(), n));
    try (Tensor buf = torch.empty(chunk)) {
      for (long s = 0; s < n; s += chunk) {
        long len = Math.min(chunk, n - s);
        try (Tensor part = buf.narrow(0, 0, len)) {
          state.read(AdamState.MASTER, s, part);
          intoWorkingCopy(s, part);
        }
      }
    }
    gatherOwnChunks();
  }

  /**
   * Checkpoint support: re-derives this rank's fp32 master shard from the working parameters
   * (DeepSpeed's {@code refresh_fp32_params}). Local: every rank already holds the full working
   * parameters at stages 0 to 2.
   */
  @Override
  public void refreshMasterFromWorking() {
    if (stage == 0) {
      OptimizerShard shard = (OptimizerShard) state;
      if (!shard.masterIsWorkingCopy()) {
        shard.master().copy_(working.flat());
      }
      return;
    }
    for (ShardLayout.Bucket b : layout.buckets()) {
      long chunk = b.chunk(layout.worldSize());
      try (Tensor src = working.flat().narrow(0, layout.chunkStart(b, comm.rank()), chunk);
          Tensor src32 = src.to(torch.ScalarType.Float)) {
        state.write(AdamState.MASTER, b.shardOffset(), src32);
      }
    }
  }

  /** Bytes of model state this rank holds, given the gradient storage's {@code gradBytes}. */
  MemoryBreakdown memory(long gradBytes) {
    long paramBytes = working.bytes();
    boolean resident = !state.swapped() && !((OptimizerShard) state).isInHostMemory();
    long residentState = resident ? state.masterBytes() + state.momentBytes() : 0;
    return new MemoryBreakdown(
        paramBytes,
        gradBytes,
        state.masterBytes(),
        state.momentBytes(),
        0,
        0,
        paramBytes + gradBytes + residentState,
        state.hostBytes(),
        state.nvmeBytes(),
        ResidentMemory.current());
  }

  @Override
  public int stage() {
    return stage;
  }

  @Override
  public List<NamedParameter> parameters() {
    return params;
  }

  @Override
  public long[] shape(int param) {
    return params.get(param).tensor().sizes().vec().get();
  }

  @Override
  public List<StateFragment> savedFragments(int rank) {
    return StateFragment.ofChunks(layout, rank, stage == 0);
  }

  @Override
  public List<StateFragment> heldFragments() {
    return stage == 0
        ? StateFragment.whole(layout)
        : StateFragment.ofChunks(layout, comm.rank(), false);
  }

  @Override
  public List<Integer> streamOrder() {
    List<Integer> out = new ArrayList<>();
    for (int i = 0; i < params.size(); i++) {
      out.add(i);
    }
    return out;
  }

  /** Every rank holds the full working parameters here, so this is local to {@code root}. */
  @Override
  public void streamParameters(int root, ObjIntConsumer<Tensor> visitor) {
    if (comm.rank() == root) {
      for (int i = 0; i < params.size(); i++) {
        visitor.accept(params.get(i).tensor(), i);
      }
    }
  }

  @Override
  public List<Block> blocks() {
    List<Block> out = new ArrayList<>();
    for (int i = 0; i < layout.buckets().size(); i++) {
      ShardLayout.Bucket b = layout.buckets().get(i);
      out.add(new Block("bucket" + i, b.start(), b.numel(), b.paddedNumel()));
    }
    return out;
  }
}
