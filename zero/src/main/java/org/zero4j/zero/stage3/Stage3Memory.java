package org.zero4j.zero.stage3;

import org.zero4j.offload.OffloadDevice;
import org.zero4j.offload.swap.ResidentMemory;
import org.zero4j.zero.MemoryBreakdown;
import org.zero4j.zero.OptimizerOffload;
import org.zero4j.zero.OptimizerState;
import org.zero4j.zero.Precision;

/**
 * Stage 3's memory accounting: shards (resident or swapped), the shard gradient, the optimizer
 * state wherever it lives, and the gathered (live) parameters with their peak.
 */
final class Stage3Memory {

  private final UnitLayout layout;
  private final Precision working;
  private final ShardStore store;
  private final OptimizerOffload offload;
  private final OptimizerState state;
  private final UnitGradients grads;
  private final LiveWindow live;

  Stage3Memory(
      UnitLayout layout,
      Precision working,
      ShardStore store,
      OptimizerOffload offload,
      OptimizerState state,
      UnitGradients grads,
      LiveWindow live) {
    this.layout = layout;
    this.working = working;
    this.store = store;
    this.offload = offload;
    this.state = state;
    this.grads = grads;
    this.live = live;
  }

  MemoryBreakdown breakdown() {
    long shards = 0;
    long swappedShards = 0;
    for (UnitParams u : layout.units()) {
      long b = u.chunk() * working.bytes();
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
}
