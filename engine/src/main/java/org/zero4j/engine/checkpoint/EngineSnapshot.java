package org.zero4j.engine.checkpoint;

import org.zero4j.engine.config.EngineConfig;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.zero.ZeroOptimizer;
import org.zero4j.zero.comm.Collectives;

/**
 * What a save reads from the engine, and a load writes back into: the ZeRO optimizer (parameters,
 * layout, master shard, moments), the collectives, the config and the scalar training state.
 *
 * @param zero the engine's ZeRO optimizer
 * @param comm the engine's collectives
 * @param config the engine's resolved config
 * @param steps the engine's counters
 * @param scaler the loss scaler's state
 * @param scheduler the LR schedule's state
 */
public record EngineSnapshot(
    ZeroOptimizer zero,
    Collectives comm,
    EngineConfig config,
    CheckpointManifest.Steps steps,
    CheckpointManifest.ScalerState scaler,
    CheckpointManifest.SchedulerState scheduler) {

  /** Refuses what checkpoints do not cover yet, so no save or load is silently incomplete. */
  void refuseUnsupported(String what) {
    var z = config.zero();
    boolean offload =
        (z.offloadOptimizer() != null && z.offloadOptimizer().device() != OffloadDevice.NONE)
            || (z.offloadParam() != null && z.offloadParam().device() != OffloadDevice.NONE);
    if (z.stage() > 2 || offload) {
      throw new IllegalArgumentException(
          what
              + " at ZeRO stage "
              + z.stage()
              + (offload ? " with offload" : "")
              + " is not supported yet: checkpoints cover stages 0-2 without offload");
    }
  }
}
